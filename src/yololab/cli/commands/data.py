"""``yololab data synth OUT``: generate the synthetic world (YOLO dataset + MOTChallenge sequences)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup


class _OnDemand(TyperGroup):
    """The ``data`` group; its commands are built when first asked for.

    Their option defaults come from :class:`~yololab.data.synthetic_config.SyntheticWorldConfig` (pydantic), which so
    is imported only by ``yololab data ...`` and help that lists these commands, not by other commands.
    """

    def _ensure(self) -> None:
        if not self.commands:
            sub = typer.Typer(rich_markup_mode=self.rich_markup_mode, add_completion=False)
            _register_synth(sub)
            self.commands = dict(typer.main.get_group(sub).commands)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """The command ``cmd_name`` (builds the group's commands on first use)."""
        self._ensure()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: Any) -> list[str]:
        """The group's commands (builds them on first use)."""
        self._ensure()
        return super().list_commands(ctx)


def register(app: typer.Typer) -> None:
    """Add the ``data`` command group to the yololab application."""
    app.add_typer(
        typer.Typer(cls=_OnDemand, help="Datasets yololab generates itself.", no_args_is_help=True), name="data"
    )


def _register_synth(data_app: typer.Typer) -> None:
    """Add ``synth``; its defaults are the config model's (one source of truth)."""
    from yololab.data.synthetic_config import SyntheticWorldConfig

    _D = SyntheticWorldConfig()

    @data_app.command("synth")
    def synth(
        out: Path = typer.Argument(..., help="Output folder (created; a world already there is regenerated)."),
        seed: int = typer.Option(0, help="Random seed; the same settings give the same bytes."),
        sequences: int = typer.Option(_D.sequences, help="Number of sequences (train + val)."),
        frames: int = typer.Option(_D.frames, help="Frames per training sequence."),
        val_frames: int | None = typer.Option(
            _D.val_frames, help="Frames per val/tracking sequence (default: --frames)."
        ),
        classes: int = typer.Option(_D.classes, help="Number of object classes (at most 8)."),
        size: str = typer.Option(f"{_D.size[0]}x{_D.size[1]}", help="Image size WIDTHxHEIGHT."),
        val_fraction: float = typer.Option(
            _D.val_fraction, help="Fraction of the sequences used for val and tracking."
        ),
        min_objects: int = typer.Option(_D.objects[0], help="Fewest objects aimed for in view."),
        max_objects: int = typer.Option(_D.objects[1], help="Most objects aimed for in view."),
        max_distractors: int = typer.Option(
            _D.distractors[1], help="Most distractors (look-alike shapes, never labelled) in view."
        ),
        image_format: str = typer.Option("jpg", help="Image format: jpg or png."),
        overwrite: bool = typer.Option(False, help="Also write into a non-empty folder that holds no world."),
    ) -> None:
        """Generate the synthetic world: moving shapes as a YOLO dataset and MOTChallenge-layout sequences."""
        from pydantic import ValidationError
        from rich.console import Console
        from rich.table import Table

        from yololab.data.synthetic import SyntheticWorldConfig, generate_world

        console = Console()
        try:
            config = SyntheticWorldConfig(
                seed=seed,
                sequences=sequences,
                frames=frames,
                val_frames=val_frames,
                classes=classes,
                size=size,
                val_fraction=val_fraction,
                objects=(min_objects, max_objects),
                distractors=(0, max_distractors),
                image_format=image_format,
            )
        except ValidationError as err:
            for error in err.errors(include_url=False):
                field = ".".join(str(p) for p in error["loc"]) or "settings"
                message = str(error["msg"]).removeprefix("Value error, ")
                console.print(f"[red]error:[/red] {field}: got {error.get('input')!r}; {message}")
            raise typer.Exit(2) from None
        try:
            world = generate_world(out, config, overwrite=overwrite)
        except FileExistsError as err:
            console.print(f"[red]error:[/red] {err}")
            raise typer.Exit(1) from None

        table = Table(title=f"Synthetic world (seed {seed}) in {world.elapsed_s:.1f} s", show_header=False)
        table.add_column(style="bold")
        table.add_column()
        table.add_row("classes", ", ".join(world.class_names))
        table.add_row(
            "train",
            f"{world.num_train_images} images, {world.num_train_labels} boxes ({len(world.train_sequences)} sequences)",
        )
        table.add_row(
            "val", f"{world.num_val_images} images, {world.num_val_labels} boxes ({len(world.val_sequences)} sequences)"
        )
        table.add_row(
            "tracking", f"{len(world.val_sequences)} sequences, {world.num_tracks} tracks, {world.num_gt_rows} gt rows"
        )
        table.add_row("data.yaml", str(world.data_yaml))
        table.add_row("MOT folder", f"{world.mot_dir} (seqmap {world.seqmap.name})")
        speed = world.num_frames / world.elapsed_s if world.elapsed_s > 0 else float("nan")
        table.add_row("speed", f"{speed:.0f} frames/s")
        console.print(table)

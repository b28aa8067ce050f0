"""``yololab config show KIND``: the packaged default config of an experiment kind, resolved, as YAML."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the ``config`` command group."""
    config_app = typer.Typer(help="Experiment configs.", no_args_is_help=True)

    @config_app.command("show")
    def show(
        kind: str = typer.Argument(..., help="train, infer, quant or bench."),
        set_: list[str] | None = typer.Option(
            None, "--set", help="Override a field by its dotted path, e.g. imgsz=640."
        ),
    ) -> None:
        """Print the resolved default config of KIND (every field, defaults filled in, secrets redacted).

        Examples:  yololab config show infer  |  yololab config show train --set train.epochs=5 > my.yaml
        """
        import yaml

        from yololab.adapters.mlflow_params import redacted_config
        from yololab.cli.options import overrides_from_cli
        from yololab.config import ConfigError, default_config_path, load_config

        try:
            config = load_config(default_config_path(kind), overrides_from_cli({}, set_ or []))  # type: ignore[arg-type]
        except (ConfigError, ValueError) as err:
            typer.secho(f"error: {err}", fg="red", err=True)
            raise typer.Exit(2) from err
        data = redacted_config(config)
        data = {"kind": data.pop("kind"), **data}
        typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), nl=False)

    app.add_typer(config_app, name="config")

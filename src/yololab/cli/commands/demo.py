"""``yololab demo``: the main job on the embedded default."""

from __future__ import annotations

from pathlib import Path

import typer

from yololab.cli import skip_teardown


def register(app: typer.Typer) -> None:
    """Add ``demo``."""

    @app.command()
    def demo(
        workdir: Path = typer.Option(Path("yololab-demo"), help="Where the synthetic data and run outputs go."),
        experiment: str = typer.Option("yololab-demo", help="MLflow experiment name."),
        tracking_uri: str | None = typer.Option(None, help="Default: MLFLOW_TRACKING_URI or sqlite:///mlflow.db."),
        epochs: int | None = typer.Option(None, help="Override the default training epochs (fewer = faster, worse)."),
    ) -> None:
        """Synthetic world -> train -> inference benchmark with tracking -> quantization: three MLflow runs.

        Ends with a summary table, where the runs are, and the command that opens the MLflow UI on them.
        """
        from yololab.runners.demo import run_demo

        overrides = {"train": {"train.epochs": epochs}} if epochs else None
        result = run_demo(workdir, experiment=experiment, tracking_uri=tracking_uri, overrides=overrides)
        skip_teardown()  # the three runs ended: all sent, written and closed (see yololab.cli.skip_teardown)
        if not result.gates_passed:
            raise typer.Exit(3)

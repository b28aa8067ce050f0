"""``yololab compare``: logged runs side by side, and an HTML report."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add ``compare``."""

    @app.command()
    def compare(
        run_ids: list[str] | None = typer.Argument(None, metavar="RUN_ID...", help="MLflow run IDs to compare."),
        experiment: str | None = typer.Option(None, "--experiment", "-e", help="Compare every run of this experiment."),
        output: Path | None = typer.Option(None, "--output", "-o", help="Write a self-contained HTML report here."),
        tracking_uri: str | None = typer.Option(
            None, help="MLflow tracking URI (default: MLFLOW_TRACKING_URI or sqlite:///mlflow.db)."
        ),
        all_keys: bool = typer.Option(False, "--all", help="Also show keys that only one of the runs measured."),
    ) -> None:
        """Show runs side by side on the same metric keys, with last - first differences.

        With --output, also write a self-contained HTML report: headline numbers; training curves and learning
        rates, latency CDFs, per-class AP, the quantization comparison and MOT metrics per sequence (each run in
        one colour in every chart); each run's params and yololab.* tags; every key side by side.
        """
        from yololab.adapters.mlflow_reader import find_run_ids, load_runs
        from yololab.report.compare import print_comparison, render_html

        if not run_ids and not experiment:
            typer.secho("error: give RUN_ID... or --experiment NAME", fg="red", err=True)
            raise typer.Exit(2)
        try:
            ids = list(run_ids or []) + (
                find_run_ids(experiment=experiment, tracking_uri=tracking_uri) if experiment else []
            )
            runs = load_runs(ids, tracking_uri=tracking_uri)
        except Exception as err:  # unknown run id / experiment, no store, unreachable server: say which
            from yololab.adapters.mlflow_params import redact_value

            typer.secho(f"error: {redact_value(' '.join(str(err).split()))}", fg="red", err=True)
            raise typer.Exit(2) from err
        print_comparison(runs, all_keys=all_keys)
        if output is not None:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text(render_html(runs), encoding="utf-8")
            typer.echo(f"report written to {output}")

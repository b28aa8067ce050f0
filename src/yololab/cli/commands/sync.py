"""``yololab sync``: replay local journals of MLflow calls into the tracking server."""

from __future__ import annotations

from pathlib import Path

import typer

from yololab.journal import DEFAULT_JOURNAL_DIR

_HELP = (
    "Replay journaled MLflow calls into the tracking server.\n\n"
    "When the tracking server is unreachable or answers errors during an experiment, yololab keeps running and "
    "appends every call it could not send (run creation, params, metrics with their steps and timestamps, tags, "
    f"artifacts, the final status) to a journal: one JSON-lines file per run under {DEFAULT_JOURNAL_DIR}/. "
    "This command sends them later, in order, and creates runs that never reached the server with their original "
    "start time, name and tags.\n\n"
    "It is safe to run any number of times: progress is saved next to each journal (<journal>.state.json), so "
    "records already synced are skipped, never logged twice. Records that fail again are kept for the next sync.\n\n"
    f"With no JOURNAL, every journal in {DEFAULT_JOURNAL_DIR}/ is replayed. Each journal goes to the tracking URI "
    "it was recorded with, unless --tracking-uri is given. Exit code 1 when any record could not be sent."
)


def sync(
    journals: list[Path] = typer.Argument(
        None,
        metavar="JOURNAL",
        help=f"Journal files (.jsonl) to replay. Default: every journal in {DEFAULT_JOURNAL_DIR}/.",
        show_default=False,
    ),
    tracking_uri: str | None = typer.Option(
        None,
        "--tracking-uri",
        "-t",
        help="Send to this tracking server instead of the URI recorded in each journal (e.g. http://host:5000).",
    ),
    journal_dir: Path = typer.Option(
        DEFAULT_JOURNAL_DIR, "--journal-dir", help="Where to look for journals when none is given."
    ),
    timeout: float = typer.Option(10.0, "--timeout", help="HTTP timeout per request, in seconds."),
) -> None:
    """Replay journaled MLflow calls into the tracking server (safe to repeat)."""
    from rich.console import Console
    from rich.table import Table

    from yololab.adapters.mlflow_recorder import sync_journals

    console = Console()
    report = sync_journals(
        journals or None, tracking_uri=tracking_uri, journal_dir=journal_dir, request_timeout_s=timeout
    )
    if not report.journals:
        console.print(f"No journals found in {journal_dir}/ - nothing to sync.")
        return
    table = Table(title="yololab sync", show_footer=True)
    table.add_column("journal", footer="total")
    table.add_column("runs (server id)")
    table.add_column("sent", justify="right", footer=str(report.sent))
    table.add_column("already synced", justify="right", footer=str(report.skipped))
    table.add_column("failed", justify="right", footer=str(report.failed))
    for j in report.journals:
        failed = f"[red]{j.failed}[/red]" if j.failed else "0"
        table.add_row(str(j.path), "\n".join(j.runs.values()) or "-", str(j.sent), str(j.skipped), failed)
    console.print(table)
    for j in report.journals:
        for error in j.errors:
            console.print(f"[red]error[/red] {error}", highlight=False)
    if not report.ok:
        console.print("Some records were not sent; they are kept - run `yololab sync` again later.")
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add ``yololab sync`` to the CLI."""
    app.command("sync", help=_HELP, short_help="Replay journaled MLflow calls into the tracking server.")(sync)

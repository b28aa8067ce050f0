"""``yololab sync``: replay local journals of MLflow calls into the tracking server."""

from __future__ import annotations

from pathlib import Path

import typer

from yololab.journal import DEFAULT_JOURNAL_DIR

_HELP = (
    "Replay journaled MLflow calls into the tracking server.\n\n"
    "Every experiment first writes each call (run creation, params, metrics with their steps and timestamps, tags, "
    "artifacts, the final status) to a journal - one JSON-lines file per run under "
    f"{DEFAULT_JOURNAL_DIR}/, every line checksummed - and a background sender uploads it. What the sender could "
    "not upload (the server was down, slow, or refused the credentials) stays there, and this command sends it "
    "later, in order; runs that never reached the server are created with their original start time, name and "
    "tags.\n\n"
    "It is safe to run any number of times: progress is saved next to each journal (<journal>.state.json), so "
    "records already synced are skipped, never logged twice. Records that fail again are kept for the next sync. "
    "Every line is verified first: a torn, corrupt or wrongly checksummed line is reported with its file, line "
    "and what it held (run, op, step), and every good line is still replayed. A run whose end_run record is "
    "missing (the process was killed) is ended KILLED (FAILED when the journal recorded a failure), and this is "
    "reported. Journals of experiments still running are left alone.\n\n"
    f"With no JOURNAL, every journal in {DEFAULT_JOURNAL_DIR}/ is replayed. Each journal goes to the tracking URI "
    "it was recorded with (journals never hold credentials: set MLFLOW_TRACKING_USERNAME and "
    "MLFLOW_TRACKING_PASSWORD), unless --tracking-uri is given. Exit code 1 when any record could not be sent or "
    "any line could not be trusted."
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

    from yololab.adapters.mlflow_params import redact_value
    from yololab.adapters.mlflow_recorder import sync_journals

    console = Console()
    report = sync_journals(
        journals or None, tracking_uri=tracking_uri, journal_dir=journal_dir, request_timeout_s=timeout
    )
    if not report.journals:
        console.print(f"No journals found in {journal_dir}/ - nothing to sync.")
        return
    shown = [j for j in report.journals if j.sent or j.failed or j.bad or j.errors or j.notes or j.busy]
    done = len(report.journals) - len(shown)
    if not shown:
        console.print(f"{done} journal(s), every record already synced - nothing to send.")
        return
    table = Table(title="yololab sync", show_footer=True)
    table.add_column("journal", footer="total")
    table.add_column("runs (server id)")
    table.add_column("sent", justify="right", footer=str(report.sent))
    table.add_column("already synced", justify="right", footer=str(report.skipped))
    table.add_column("failed", justify="right", footer=str(report.failed))
    table.add_column("bad lines", justify="right", footer=str(report.bad))
    for j in shown:
        failed = f"[red]{j.failed}[/red]" if j.failed else "0"
        bad = f"[red]{len(j.bad)}[/red]" if j.bad else "0"
        runs = "in use, left alone" if j.busy else "\n".join(j.runs.values()) or "-"
        table.add_row(j.path.name, runs, str(j.sent), str(j.skipped), failed, bad)
    console.print(table)
    if done:
        console.print(f"{done} more journal(s) were already synced completely.")
    for j in shown:
        for bad_line in j.bad:
            console.print(f"[red]bad line[/red] {redact_value(str(bad_line))}", highlight=False, soft_wrap=True)
        for error in j.errors:
            console.print(f"[red]error[/red] {redact_value(error)}", highlight=False, soft_wrap=True)
        for note in j.notes:
            console.print(f"[yellow]note[/yellow] {redact_value(note)}", highlight=False, soft_wrap=True)
    if report.failed:
        console.print("Some records were not sent; they are kept - run `yololab sync` again later.")
    if report.bad:
        console.print(
            f"{report.bad} journal line(s) could not be trusted and were not replayed (listed above); every good "
            "line was."
        )
    if not report.ok:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add ``yololab sync`` to the CLI."""
    app.command("sync", help=_HELP, short_help="Replay journaled MLflow calls into the tracking server.")(sync)

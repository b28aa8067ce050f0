"""``yololab eval-mot``: CLEAR, Identity and HOTA of tracker results on MOTChallenge-layout data (as TrackEval)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

_TABLE_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    # (field, header, is_ratio)
    ("hota", "HOTA", True),
    ("deta", "DetA", True),
    ("assa", "AssA", True),
    ("loca", "LocA", True),
    ("mota", "MOTA", True),
    ("motp", "MOTP", True),
    ("idf1", "IDF1", True),
    ("id_precision", "IDP", True),
    ("id_recall", "IDR", True),
    ("id_switches", "IDSW", False),
    ("frag", "Frag", False),
    ("mt", "MT", False),
    ("pt", "PT", False),
    ("ml", "ML", False),
    ("fp", "FP", False),
    ("fn", "FN", False),
    ("gt_tracks", "GT IDs", False),
    ("pred_tracks", "IDs", False),
)


def _cell(row: dict[str, Any], field: str, is_ratio: bool) -> str:
    value = row.get(field)
    if value is None:
        return "-"
    return f"{100 * value:.3f}" if is_ratio else str(int(value))


def _print_table(result: dict[str, Any], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_lines=False, pad_edge=False)
    table.add_column("Sequence", style="bold", no_wrap=True)
    for _, header, _ in _TABLE_COLUMNS:
        table.add_column(header, justify="right", no_wrap=True)
    for name, row in sorted(result["sequences"].items()):
        table.add_row(name, *(_cell(row, f, r) for f, _, r in _TABLE_COLUMNS))
    table.add_section()
    table.add_row("COMBINED", *(_cell(result["combined"], f, r) for f, _, r in _TABLE_COLUMNS), style="bold")
    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 180))  # a pipe or file gets the whole table
    console.print(table)


def _write_csv(path: Path, result: dict[str, Any]) -> None:
    import csv

    rows = {**result["sequences"], "COMBINED": result["combined"]}
    fields = [k for k, v in result["combined"].items() if not isinstance(v, list)]
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["sequence", *fields])
        for name, row in rows.items():
            writer.writerow([name, *(row.get(f, "") for f in fields)])


def eval_mot(
    gt: Path = typer.Option(..., "--gt", help="Folder with one folder per sequence: <seq>/gt/gt.txt, seqinfo.ini."),
    pred: Path = typer.Option(..., "--pred", help="Folder with the tracker's <seq>.txt result files."),
    benchmark: str = typer.Option(
        "auto",
        "--benchmark",
        help="MOTChallenge preprocessing: MOT16, MOT17, MOT20, or none (custom data, per class). "
        "auto: MOT16/17/20 when every sequence name starts with it, else none.",
    ),
    seqmap: Path | None = typer.Option(None, "--seqmap", help="Seqmap file: a header line, then sequence names."),
    json_out: Path | None = typer.Option(None, "--json", help="Write {'combined': ..., 'sequences': ...} here."),
    csv_out: Path | None = typer.Option(None, "--csv", help="Write one row per sequence (+ COMBINED) here."),
    iou_threshold: float = typer.Option(0.5, "--iou-threshold", help="IoU a CLEAR/Identity match needs."),
    average: str = typer.Option("class", "--average", help="Several classes: 'class' or 'detection' average."),
) -> None:
    """Evaluate tracker results against ground truth: CLEAR, Identity and HOTA, equal to TrackEval's numbers."""
    import json
    import warnings

    from rich.console import Console

    from yololab.metrics.mot import MOTDataError, evaluate_mot
    from yololab.metrics.mot.motchallenge import MOTDataWarning, load_benchmark, resolve_benchmark

    err = Console(stderr=True)
    try:
        bench: str | None = resolve_benchmark(benchmark, [])
    except ValueError:
        bench = None
    if bench is None or average not in ("class", "detection"):
        err.print(
            f"[red]--benchmark {benchmark!r} / --average {average!r}: expected MOT16|MOT17|MOT20|none|auto "
            "and class|detection[/red]"
        )
        raise typer.Exit(2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MOTDataWarning)
        try:
            folder = load_benchmark(gt, pred, seqmap=seqmap)
            bench = resolve_benchmark(benchmark, folder.sequences.names)
            result = evaluate_mot(
                folder.sequences, benchmark=bench, iou_threshold=iou_threshold, origins=folder.origins
            )
        except MOTDataError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(2) from None
    for w in caught:
        err.print(f"[yellow]warning:[/yellow] {w.message}", highlight=False)
    data = result.to_dict(average)  # type: ignore[arg-type]
    classes = "" if len(result.classes) == 1 else f", classes {list(result.classes)} ({average}-averaged)"
    _print_table(data, f"MOT metrics (%), preprocessing: {bench}{classes}")
    if json_out is not None:
        json_out.write_text(json.dumps(data, indent=2))
    if csv_out is not None:
        _write_csv(csv_out, data)


def register(app: typer.Typer) -> None:
    """Add ``eval-mot`` to the ``yololab`` CLI."""
    app.command("eval-mot")(eval_mot)

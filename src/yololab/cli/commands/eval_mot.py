"""``yololab eval-mot``: CLEAR, Identity and HOTA of tracker results on MOTChallenge-layout data (as TrackEval).

One tracker: a table per sequence and the JSON ``{"combined": ..., "sequences": ...}``. Several (``--pred`` given
several times, or a folder of tracker folders, as TrackEval's ``TRACKERS_TO_EVAL``): the ground truth is read once,
one table ranks the trackers (HOTA, then MOTA, then IDF1, highest first) and the JSON is keyed by tracker. Sequences
are evaluated in ``--jobs`` worker processes (default: the usable cores); the numbers do not depend on it.
"""

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

_RANK_KEYS = ("hota", "mota", "idf1")
"""Several trackers are ranked by these combined scores, in this order (highest first)."""


def _cell(row: dict[str, Any], field: str, is_ratio: bool) -> str:
    value = row.get(field)
    if value is None:
        return "-"
    return f"{100 * value:.3f}" if is_ratio else str(int(value))


def _table(rows: list[list[str]], headers: list[str], combined: list[str] | None, bold: bool) -> list[str]:
    """Lines of a box table in rich's ``HEAVY_HEAD`` style (first column left-aligned, the others right-aligned)."""
    body = [*rows, *([combined] if combined is not None else [])]
    widths = [max(len(r[i]) for r in [headers, *body]) for i in range(len(headers))]
    last = len(headers) - 1

    def cell(text: str, i: int) -> str:
        text = text.ljust(widths[i]) if i == 0 else text.rjust(widths[i])
        return ("" if i == 0 else " ") + text + ("" if i == last else " ")

    def rule(left: str, fill: str, mid: str, right: str) -> str:
        spans = [fill * (w + (i > 0) + (i < last)) for i, w in enumerate(widths)]
        return left + mid.join(spans) + right

    def line(cells: list[str], edge: str, strong: bool = False) -> str:
        text = edge + edge.join(cell(c, i) for i, c in enumerate(cells)) + edge
        return f"\x1b[1m{text}\x1b[0m" if strong and bold else text

    out = [rule("┏", "━", "┳", "┓"), line(headers, "┃", True), rule("┡", "━", "╇", "┩")]
    out += [line(r, "│") for r in rows]
    if combined is not None:
        out += [rule("├", "─", "┼", "┤"), line(combined, "│", True)]
    out.append(rule("└", "─", "┴", "┘"))
    return out


def _print(rows: list[tuple[str, dict[str, Any]]], combined: dict[str, Any] | None, title: str, first: str) -> None:
    """Print the table (plain text; bold on a terminal). Rendering it with rich took 0.1-0.2 s."""
    import sys

    bold = sys.stdout.isatty()
    headers = [first, *(header for _, header, _ in _TABLE_COLUMNS)]
    cells = [[name, *(_cell(row, f, r) for f, _, r in _TABLE_COLUMNS)] for name, row in rows]
    total = None if combined is None else ["COMBINED", *(_cell(combined, f, r) for f, _, r in _TABLE_COLUMNS)]
    text = "\n".join([f"\x1b[3m{title}\x1b[0m" if bold else title, *_table(cells, headers, total, bold)])
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _rank(results: dict[str, dict[str, Any]]) -> list[str]:
    """Tracker names, best first by HOTA, then MOTA, then IDF1 (a missing score ranks last), then by name."""

    def key(name: str) -> tuple:
        combined = results[name]["combined"]
        return (*(-(combined.get(k) if combined.get(k) is not None else float("-inf")) for k in _RANK_KEYS), name)

    return sorted(results, key=key)


def _write_csv(path: Path, results: dict[str, dict[str, Any]]) -> None:
    """One row per sequence (+ COMBINED); with several trackers a leading ``tracker`` column."""
    import csv

    several = len(results) > 1
    first = next(iter(results.values()))
    fields = [k for k, v in first["combined"].items() if not isinstance(v, list)]
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*(["tracker"] if several else []), "sequence", *fields])
        for tracker, result in results.items():
            for name, row in {**result["sequences"], "COMBINED": result["combined"]}.items():
                writer.writerow([*([tracker] if several else []), name, *(row.get(f, "") for f in fields)])


def _pred_folders(preds: list[Path]) -> list[Path]:
    """The tracker folders: each ``--pred``, or - one ``--pred`` without result files - its tracker sub-folders.

    A folder is a tracker's when it holds ``*.txt`` or a ``data/`` folder (TrackEval's layout); a single ``--pred``
    that is neither but has such sub-folders is a folder of trackers (TrackEval's ``TRACKERS_FOLDER``).
    """

    def is_tracker(folder: Path) -> bool:
        return any(folder.glob("*.txt")) or (folder / "data").is_dir()

    if len(preds) == 1 and preds[0].is_dir() and not is_tracker(preds[0]):
        subs = sorted(p for p in preds[0].iterdir() if p.is_dir() and is_tracker(p))
        if subs:
            return subs
    return preds


def eval_mot(
    gt: Path = typer.Option(..., "--gt", help="Folder with one folder per sequence: <seq>/gt/gt.txt, seqinfo.ini."),
    pred: list[Path] = typer.Option(
        ...,
        "--pred",
        help="Folder with a tracker's <seq>.txt result files (or <seq>.txt in data/). Give it several times to "
        "compare trackers, or give a folder of tracker folders.",
    ),
    benchmark: str = typer.Option(
        "auto",
        "--benchmark",
        help="MOTChallenge preprocessing: MOT16, MOT17, MOT20, or none (custom data, per class). "
        "auto: MOT16/17/20 when every sequence name starts with it, else none.",
    ),
    seqmap: Path | None = typer.Option(None, "--seqmap", help="Seqmap file: a header line, then sequence names."),
    json_out: Path | None = typer.Option(
        None, "--json", help="Write {'combined': ..., 'sequences': ...} here (several trackers: keyed by tracker)."
    ),
    csv_out: Path | None = typer.Option(None, "--csv", help="Write one row per sequence (+ COMBINED) here."),
    iou_threshold: float = typer.Option(0.5, "--iou-threshold", help="IoU a CLEAR/Identity match needs."),
    average: str = typer.Option("class", "--average", help="Several classes: 'class' or 'detection' average."),
    jobs: int | None = typer.Option(
        None,
        "--jobs",
        "-j",
        min=1,
        help="Processes evaluating sequences in parallel (this one and N-1 workers); default: the usable CPU "
        "cores. 1: this process only. The numbers are the same for every value.",
    ),
) -> None:
    """Evaluate tracker results against ground truth: CLEAR, Identity and HOTA, equal to TrackEval's numbers."""
    import json
    import warnings

    from yololab.cli import skip_teardown
    from yololab.cli.allocator import keep_freed_memory
    from yololab.metrics.mot import MOTDataError
    from yololab.metrics.mot.batch import evaluate_benchmark, tracker_names
    from yololab.metrics.mot.motchallenge import MOTDataWarning, plan_benchmark, resolve_benchmark

    def fail(message: str) -> None:
        from rich.console import Console

        Console(stderr=True).print(message, highlight=False)
        raise typer.Exit(2)

    try:
        bench: str | None = resolve_benchmark(benchmark, [])
    except ValueError:
        bench = None
    if bench is None or average not in ("class", "detection"):
        fail(
            f"[red]--benchmark {benchmark!r} / --average {average!r}: expected MOT16|MOT17|MOT20|none|auto "
            "and class|detection[/red]"
        )
    keep_freed_memory()  # thousands of large arrays built and dropped: reuse their pages (the workers inherit it)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MOTDataWarning)
        try:
            trackers = tracker_names(_pred_folders(list(pred)))
            if benchmark.strip().lower() == "auto":  # told by the sequence names the first tracker is scored on
                first = next(iter(trackers.values()))
                bench = resolve_benchmark(benchmark, plan_benchmark(gt, first, seqmap=seqmap).names)
            results = evaluate_benchmark(
                gt, trackers, seqmap=seqmap, benchmark=bench, iou_threshold=iou_threshold, jobs=jobs
            )  # type: ignore[arg-type]
        except MOTDataError as exc:
            fail(f"[red]error:[/red] {exc}")
    if caught:
        from rich.console import Console

        err = Console(stderr=True)
        for w in caught:
            err.print(f"[yellow]warning:[/yellow] {w.message}", highlight=False)
    data = {name: r.to_dict(average) for name, r in results.items()}  # type: ignore[arg-type]
    some = max(results.values(), key=lambda r: len(r.classes))  # custom data: each tracker has its classes
    classes = "" if len(some.classes) == 1 else f", classes {list(some.classes)} ({average}-averaged)"
    if len(data) == 1:
        (only,) = data.values()
        rows = sorted(only["sequences"].items())
        _print(rows, only["combined"], f"MOT metrics (%), preprocessing: {bench}{classes}", "Sequence")
    else:
        ranked = _rank(data)
        rows = [(name, data[name]["combined"]) for name in ranked]
        title = f"{len(data)} trackers, best first (HOTA, MOTA, IDF1); MOT metrics (%), preprocessing: {bench}{classes}"
        _print(rows, None, title, "Tracker")
    if json_out is not None:
        json_out.write_text(json.dumps(data if len(data) > 1 else next(iter(data.values())), indent=2))
    if csv_out is not None:
        _write_csv(csv_out, data)
    skip_teardown()  # all written and closed, the workers gone: the interpreter's teardown would only free memory


def register(app: typer.Typer) -> None:
    """Add ``eval-mot`` to the ``yololab`` CLI."""
    app.command("eval-mot")(eval_mot)


def _positive_int(value: Any) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(f"{number} is not in the range x>=1.")
    return number


_CONVERT: dict[str, Any] = {
    "gt": Path,
    "pred": Path,
    "benchmark": str,
    "seqmap": Path,
    "json_out": Path,
    "csv_out": Path,
    "iou_threshold": float,
    "average": str,
    "jobs": _positive_int,
}
"""How each option's text becomes its value (what typer's coercion gives for these annotations)."""


def prepare(commands: dict[str, Any]) -> None:
    """Convert ``eval-mot``'s options without pydantic (called by the CLI once typer built the command).

    See :func:`yololab.cli.plain_coercion`: typer would import pydantic and build an adapter per option, about
    0.07 s - a tenth of this command on MOT17.
    """
    from yololab.cli import plain_coercion

    command = commands.get("eval-mot")
    if command is not None:
        plain_coercion(command, _CONVERT)

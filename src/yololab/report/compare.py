"""``yololab compare``: runs side by side on the same keys, in the terminal and as a self-contained HTML report."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import datetime, timezone

from yololab.adapters.mlflow_reader import RunData
from yololab.metrics.results import higher_is_better
from yololab.report import plots

SECTIONS = ("summary", "training", "latency", "per-class-ap", "quantization", "mot")
FAMILIES = ("det.", "mot.", "sys.", "comparison.")


def comparable_keys(runs: Sequence[RunData], *, include_per_item: bool = False, shared_only: bool = False) -> list[str]:
    """The runs' metric keys in the yololab families, sorted by family then name.

    Per-class (``det.ap.*``) and per-sequence (``mot.seq.*``) keys are left out unless asked for. With
    ``shared_only``, a key is kept only when at least two of the runs measured it (every key for a single run): runs of
    different kinds then show what they can be compared on, not rows of dashes.
    """
    counts: dict[str, int] = {}
    for r in runs:
        for k in r.metrics:
            if k.startswith(FAMILIES):
                counts[k] = counts.get(k, 0) + 1
    keys = {k for k, n in counts.items() if not shared_only or n >= min(2, len(runs))}
    if not include_per_item:
        keys = {k for k in keys if ".ap." not in k and ".ap50." not in k and ".seq." not in k}
    return sorted(keys, key=lambda k: (next(i for i, f in enumerate(FAMILIES) if k.startswith(f)), k))


def difference(values: Sequence[float | None]) -> float | None:
    """Last minus first, when both were measured."""
    first, last = values[0], values[-1]
    if first is None or last is None or len(values) < 2:
        return None
    return last - first


def format_value(value: float | None) -> str:
    """A metric value for a table cell: ``—`` when absent."""
    if value is None:
        return "—"
    if math.isnan(value):
        return "nan"
    if float(value).is_integer() and abs(value) < 1e12:
        return str(int(value))
    return f"{value:.4g}"


def relative_difference(values: Sequence[float | None]) -> float | None:
    """(last - first) / |first|, as a fraction, when both were measured and first is not 0."""
    delta = difference(values)
    return None if delta is None or not values[0] else delta / abs(values[0])  # type: ignore[arg-type]


def verdict(key: str, delta: float | None) -> str | None:
    """``"better"``/``"worse"`` for a last - first difference of ``key`` (:func:`higher_is_better`), else None."""
    direction = higher_is_better(key)
    if delta is None or delta == 0 or direction is None:
        return None
    return "better" if (delta > 0) == direction else "worse"


def comparison_rows(runs: Sequence[RunData], keys: Sequence[str]) -> list[list[str]]:
    """Rows ``[key, value per run..., Δ last - first, Δ%]`` (``—`` = not measured in that run)."""
    rows = []
    for key in keys:
        values = [r.metrics.get(key) for r in runs]
        rel = relative_difference(values)
        rows.append([key, *(format_value(v) for v in values), format_value(difference(values)),
                     "—" if rel is None else f"{100 * rel:+.1f}%"])  # fmt: skip
    return rows


def print_comparison(runs: Sequence[RunData], *, all_keys: bool = False) -> None:
    """A rich table of the comparable keys, grouped by family, Δ coloured better (green) / worse (red).

    Keys are never cut: the key column is as wide as the longest key, at any terminal width.
    """
    from rich.console import Console
    from rich.table import Table

    keys = comparable_keys(runs, shared_only=not all_keys)
    table = Table(title="yololab compare", show_lines=False)
    table.add_column("key", style="bold", no_wrap=True, min_width=max((len(k) for k in keys), default=3))
    for run in runs:
        table.add_column(f"{run.name}\n{run.experiment_type} {run.run_id[:8]}", justify="right")
    table.add_column("Δ last-first", justify="right")
    table.add_column("Δ%", justify="right")
    family = None
    for key, row in zip(keys, comparison_rows(runs, keys), strict=True):
        if family is not None and not key.startswith(family):
            table.add_section()
        family = key.split(".", 1)[0] + "."
        colour = {"better": "green", "worse": "red"}.get(
            verdict(key, difference([r.metrics.get(key) for r in runs])) or ""
        )
        if colour:
            row = [*row[:-2], f"[{colour}]{row[-2]}[/]", f"[{colour}]{row[-1]}[/]"]
        table.add_row(*row)
    Console().print(table)
    if not all_keys:
        hidden = len(comparable_keys(runs)) - len(keys)
        if hidden:
            Console(stderr=True).print(f"{hidden} keys measured by one run only are not shown (--all shows them)")


def _img(uri: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="{uri}">'


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(anchor: str, title: str, content: str) -> str:
    return f'<section id="{anchor}"><h2>{html.escape(title)}</h2>{content}</section>'


def _none(what: str) -> str:
    return f'<p class="none">No {html.escape(what)} in these runs.</p>'


def _training(runs: Sequence[RunData]) -> str:
    parts = [
        _img(plots.figure_to_data_uri(plots.plot_epoch_curves(r.history, title=r.label)), f"epochs {r.label}")
        for r in runs
        if r.history
    ]
    return "".join(parts) or _none("per-epoch history (training runs)")


def _latency(runs: Sequence[RunData]) -> str:
    series: dict[str, list[float]] = {}
    for r in runs:
        samples = r.artifacts.get("latency/samples_ms.json")
        if isinstance(samples, dict) and samples.get("end_to_end"):
            series[r.label] = samples["end_to_end"]
        elif isinstance(samples, dict):
            for side, values in samples.items():
                if isinstance(values, list) and values:
                    series[f"{r.label} {side}"] = values
    if not series:
        return _none("latency samples")
    return _img(plots.figure_to_data_uri(plots.plot_latency(series)), "latency CDF")


def _per_class(runs: Sequence[RunData]) -> str:
    series: dict[str, dict[str, float]] = {}
    for r in runs:
        for prefix, label in (("det.ap.", r.label), ("det.original.ap.", f"{r.label} original"),
                              ("det.quantized.ap.", f"{r.label} quantized")):  # fmt: skip
            values = {k[len(prefix) :]: v for k, v in r.metrics.items() if k.startswith(prefix)}
            if values:
                series[label] = values
    if not series:
        return _none("per-class AP")
    return _img(plots.figure_to_data_uri(plots.plot_per_class_ap(series)), "per-class AP")


def _quantization(runs: Sequence[RunData]) -> str:
    quant = [r for r in runs if any(k.startswith("comparison.") for k in r.metrics)]
    if not quant:
        return _none("quantization comparison")
    parts = []
    for r in quant:
        m = r.metrics
        fig = plots.plot_quantization(m, title=f"{r.label}: {r.tags.get('yololab.quant.method', '')}")
        rows = [[k, format_value(v)] for k, v in sorted(m.items()) if k.startswith("comparison.")]
        parts.append(_img(plots.figure_to_data_uri(fig), f"quantization {r.label}") + _table(["key", "value"], rows))
    return "".join(parts)


def _formats(runs: Sequence[RunData]) -> str:
    """Format sweeps (``yololab bench`` parent runs): the latency-vs-accuracy plot and the table of each."""
    parts = []
    for r in runs:
        rows = r.artifacts.get("tables/formats.json")
        if not isinstance(rows, list) or not rows:
            continue
        fields = ("format", "precision", "model_size_mb", "mAP50", "mAP50_95", "accuracy_drop_mAP50",
                  "inference_time_ms", "inference_time_p95_ms", "fps", "speedup_ratio", "status")  # fmt: skip
        table = [[v if isinstance(v := row.get(f), str) else format_value(v) for f in fields] for row in rows]
        fig = plots.plot_formats(rows, title=f"{r.label}: formats")
        recommended = html.escape(r.tags.get("yololab.bench.recommended", ""))
        heading = f"<h3>{html.escape(r.label)} — recommended: {recommended}</h3>"
        parts.append(heading + _img(plots.figure_to_data_uri(fig), f"formats {r.label}") + _table(list(fields), table))
    return "".join(parts)


def _mot(runs: Sequence[RunData]) -> str:
    parts = []
    for r in runs:
        table = r.artifacts.get("tables/mot_metrics.json")
        if not isinstance(table, dict):
            continue
        fields = ("hota", "mota", "idf1", "id_switches", "deta", "assa", "motp")
        rows = [[name, *(format_value(v.get(f)) for f in fields)] for name, v in table.get("sequences", {}).items()]
        rows.append(["COMBINED", *(format_value(table["combined"].get(f)) for f in fields)])
        series = {
            f: {name: table["sequences"][name].get(f, 0.0) for name in table["sequences"]}
            for f in ("hota", "mota", "idf1")
        }
        fig = plots.plot_per_class_ap(series, title=f"{r.label}: MOT metrics per sequence", ylabel="fraction")
        parts.append(f"<h3>{html.escape(r.label)}</h3>" + _table(["sequence", *fields], rows)
                     + _img(plots.figure_to_data_uri(fig), f"MOT {r.label}"))  # fmt: skip
    return "".join(parts) or _none("MOT metrics")


CSS = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1200px;color:#222}
h1{margin-bottom:.2rem}table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.85rem}
td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}th{background:#f4f4f4}td:first-child{text-align:left}
img{max-width:100%;display:block;margin:.5rem 0}section{margin-top:2rem}.none{color:#888}nav a{margin-right:1rem}"""


def render_html(runs: Sequence[RunData]) -> str:
    """A self-contained HTML page (CSS inline, images embedded as data URIs) comparing ``runs``."""
    keys = comparable_keys(runs)
    header = ["key", *(r.label for r in runs), "Δ last-first", "Δ%"]
    summary = _table(
        ["run", "type", "status", "run id", "description"],
        [[r.name, r.experiment_type, r.status, r.run_id, r.tags.get("mlflow.note.content", "")] for r in runs],
    )
    summary += (
        f"<details><summary>All {len(keys)} metric keys side by side</summary>"
        + _table(header, comparison_rows(runs, keys))
        + "</details>"
    )
    sections = [
        _section("summary", "Runs: what was measured, and the headline numbers", summary),
        _section("training", "Training: mAP and losses per epoch", _training(runs)),
        _section("latency", "Latency per image (histogram and CDF)", _latency(runs)),
        _section("per-class-ap", "Per-class AP50-95", _per_class(runs)),
        _section("quantization", "Quantization: original vs quantized", _quantization(runs)),
        _section("mot", "Tracking: MOT metrics per sequence", _mot(runs)),
    ]
    anchors = list(SECTIONS)
    formats = _formats(runs)
    if formats:  # only when a format sweep is among the runs
        sections.append(_section("formats", "Deployment formats on this machine", formats))
        anchors.append("formats")
    nav = "".join(f'<a href="#{s}">{s}</a>' for s in anchors)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>yololab report</title><style>{CSS}</style>"
            f"</head><body><h1>yololab report</h1><p>{len(runs)} run(s), generated {when}</p><nav>{nav}</nav>"
            + "".join(sections) + "</body></html>")  # fmt: skip

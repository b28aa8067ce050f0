"""``yololab compare``: runs side by side on the same keys, in the terminal and as a self-contained HTML report."""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import PurePath
from typing import TYPE_CHECKING

from yololab.adapters.mlflow_reader import RunData
from yololab.metrics.results import LR_PREFIX, higher_is_better
from yololab.report import plots

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SECTIONS = ("summary", "training", "latency", "per-class-ap", "quantization", "mot")
"""The ``<section>`` ids of every report, in page order (a format sweep adds ``formats``)."""
PANELS = ("config", "all-metrics")
"""The collapsible ``<details>`` ids after the sections: each run's params and tags, then every metric key."""
FAMILIES = ("det.", "mot.", "sys.", "comparison.")
HEADLINE_KEYS = (
    "det.mAP50_95", "det.mAP50", "det.original.mAP50_95", "det.quantized.mAP50_95", "mot.hota", "mot.mota",
    "mot.idf1", "sys.inference_time_ms", "sys.inference_time_p95_ms", "sys.original.inference_time_ms",
    "sys.quantized.inference_time_ms", "sys.model_size_mb", "comparison.accuracy_drop_mAP50_95",
    "comparison.speedup_ratio", "comparison.compression_ratio",
)  # fmt: skip
"""The keys at the top of the report, those that any of the runs measured."""


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


def measured(run: RunData) -> str:
    """What a run measured, in a few words: its model file, with the format or quantization method; else its name.

    Example:
        >>> r = RunData("db8aaec6f0", "infer", "infer", "FINISHED", {}, {"model": "runs/w/best.onnx"}, {})
        >>> measured(r)
        'best.onnx'
    """
    model = PurePath(run.params["model"]).name if run.params.get("model") else ""
    method = run.tags.get("yololab.quant.method") or run.params.get("quant.method")
    variant = run.tags.get("yololab.format") or (method if run.experiment_type == "quant" else None)
    if variant:
        return f"{model} → {variant}" if model else variant
    if model and run.experiment_type == "bench":
        return f"{model} format sweep"
    return model or run.name


def run_labels(runs: Sequence[RunData]) -> dict[str, str]:
    """Run id -> the run's name in legends and tables: :func:`measured`, disambiguated only where two are equal.

    Two runs that measured the same thing are told apart by their run names when those differ, else by the first 8
    characters of their run ids.
    """
    base = {r.run_id: measured(r) for r in runs}
    counts = Counter(base.values())
    labels = {}
    for r in runs:
        label = base[r.run_id]
        if counts[label] > 1:
            names = [o.name for o in runs if base[o.run_id] == label]
            unique_name = names.count(r.name) == 1 and r.name != label
            label = f"{label} · {r.name}" if unique_name else f"{label} ({r.run_id[:8]})"
        labels[r.run_id] = label
    counts = Counter(labels.values())
    return {k: v if counts[v] == 1 else f"{v} ({k[:8]})" for k, v in labels.items()}


@dataclass(frozen=True)
class RunStyle:
    """A run's label and colour, the same in every table and chart of one report."""

    labels: dict[str, str]
    colours: dict[str, str]

    @classmethod
    def of(cls, runs: Sequence[RunData]) -> RunStyle:
        """Labels from :func:`run_labels`, colours from :func:`plots.run_colours` in the order of ``runs``."""
        return cls(run_labels(runs), plots.run_colours(r.run_id for r in runs))

    def label(self, run: RunData) -> str:
        """The run's label."""
        return self.labels[run.run_id]

    def colour(self, run: RunData) -> str:
        """The run's colour (``#rrggbb``)."""
        return self.colours[run.run_id]

    def series_colours(self, owners: Mapping[str, RunData]) -> dict[str, str]:
        """Series label -> the colour of the run it belongs to."""
        return {label: self.colour(run) for label, run in owners.items()}

    def swatch(self, run: RunData) -> str:
        """HTML: a square of the run's colour, then its escaped label."""
        return f'<span class="swatch" style="background:{self.colour(run)}"></span>{html.escape(self.label(run))}'


def last_epoch(history: Mapping[str, Sequence[tuple[int, float]]]) -> int | None:
    """The last epoch of a training history: the last step of its per-epoch-only keys (losses, learning rates).

    The final evaluation of ``best.pt`` logs ``det.mAP50`` ... at step N + 1 after N epochs, but no loss: a later
    step of an accuracy key is that evaluation, not an epoch. None when the history has no such key.

    Example:
        >>> last_epoch({"det.mAP50": [(1, 0.2), (2, 0.4), (3, 0.45)], "det.box_loss": [(1, 2.0), (2, 1.5)]})
        2
    """
    steps = [p[0] for k, points in history.items() if k.endswith("_loss") or k.startswith(LR_PREFIX) for p in points]
    return max(steps) if steps else None


def training_figures(runs: Sequence[RunData], style: RunStyle) -> list[Figure]:
    """The per-epoch curves of the training runs, one line per run per metric (learning rates apart)."""
    histories = {
        style.label(r): {k: v for k, v in r.history.items() if not k.startswith(LR_PREFIX)} for r in runs if r.history
    }
    histories = {label: h for label, h in histories.items() if h}
    if not histories:
        return []
    owners = {style.label(r): r for r in runs}
    ends = {style.label(r): end for r in runs if (end := last_epoch(r.history)) is not None}
    colours = style.series_colours(owners)
    fig = plots.plot_training(histories, colors=colours, title="Training: per epoch", last_epoch=ends)
    fig.set_label("training curves per epoch")
    return [fig]


def learning_rate_figure(runs: Sequence[RunData], style: RunStyle) -> Figure | None:
    """The ``train.lr.*`` histories of the runs that have them, one line per run per parameter group; else None."""
    histories = {
        style.label(r): {k: v for k, v in r.history.items() if k.startswith(LR_PREFIX)} for r in runs if r.history
    }
    histories = {label: h for label, h in histories.items() if h}
    if not histories:
        return None
    fig = plots.plot_learning_rates(histories, colors=style.series_colours({style.label(r): r for r in runs}))
    fig.set_label("learning rate per epoch")
    return fig


def latency_figure(runs: Sequence[RunData], style: RunStyle) -> Figure | None:
    """Latency histogram and CDF, one curve per run (per side for a quantization run: original dashed)."""
    series: dict[str, list[float]] = {}
    owners: dict[str, RunData] = {}
    styles: dict[str, str] = {}
    for r in runs:
        samples = r.artifacts.get("latency/samples_ms.json")
        if not isinstance(samples, dict):
            continue
        sides = {"": samples["end_to_end"]} if samples.get("end_to_end") else samples
        for side, values in sides.items():
            if isinstance(values, list) and values:
                label = f"{style.label(r)} {side}".strip()
                series[label], owners[label] = values, r
                styles[label] = "--" if side == "original" else "-"
    if not series:
        return None
    fig = plots.plot_latency(series, colors=style.series_colours(owners), linestyles=styles)
    fig.set_label("latency CDF")
    return fig


def per_class_figure(runs: Sequence[RunData], style: RunStyle) -> Figure | None:
    """Per-class AP50-95 bars, one per run (a quantization run: original hatched, quantized solid)."""
    series: dict[str, dict[str, float]] = {}
    owners: dict[str, RunData] = {}
    for r in runs:
        for prefix, side in (("det.ap.", ""), ("det.original.ap.", "original"), ("det.quantized.ap.", "quantized")):
            values = {k[len(prefix) :]: v for k, v in r.metrics.items() if k.startswith(prefix)}
            if values:
                label = f"{style.label(r)} {side}".strip()
                series[label], owners[label] = values, r
    if not series:
        return None
    hatches = {label: "//" for label in series if label.endswith(" original")}
    fig = plots.plot_per_class_ap(series, colors=style.series_colours(owners), hatches=hatches)
    fig.set_label("per-class AP")
    return fig


def quantization_figures(runs: Sequence[RunData], style: RunStyle) -> list[tuple[RunData, Figure]]:
    """(run, original-vs-quantized bars in the run's colour) for each run with ``comparison.*`` keys."""
    out = []
    for r in runs:
        if any(k.startswith("comparison.") for k in r.metrics):
            title = f"{style.label(r)}: original vs quantized"
            fig = plots.plot_quantization(r.metrics, title=title, color=style.colour(r))
            fig.set_label(f"quantization {style.label(r)}")
            out.append((r, fig))
    return out


MOT_PANELS = (("HOTA", "hota"), ("MOTA", "mota"), ("IDF1", "idf1"))
"""(subplot title, field of ``tables/mot_metrics.json``) of the MOT chart."""


def _mot_table(run: RunData) -> dict | None:
    table = run.artifacts.get("tables/mot_metrics.json")
    return table if isinstance(table, dict) else None


def mot_figure(runs: Sequence[RunData], style: RunStyle) -> Figure | None:
    """HOTA, MOTA and IDF1 per sequence and COMBINED, one bar per run in its colour; None without MOT tables."""
    tables = {style.label(r): (r, t) for r in runs if (t := _mot_table(r)) is not None}
    if not tables:
        return None
    panels = {
        title: {
            label: {**{s: v[field] for s, v in t.get("sequences", {}).items() if v.get(field) is not None},
                    **({"COMBINED": t["combined"][field]} if t.get("combined", {}).get(field) is not None else {})}
            for label, (_r, t) in tables.items()
        }
        for title, field in MOT_PANELS
    }  # fmt: skip
    colours = style.series_colours({label: r for label, (r, _t) in tables.items()})
    fig = plots.plot_metric_panels(panels, title="MOT metrics per sequence", colors=colours)
    fig.set_label("MOT metrics per sequence")
    return fig


def formats_figures(runs: Sequence[RunData], style: RunStyle) -> list[tuple[RunData, list[dict], Figure]]:
    """(run, rows, latency-vs-accuracy plot) of each format sweep (``yololab bench`` parent run) among ``runs``."""
    out = []
    for r in runs:
        rows = r.artifacts.get("tables/formats.json")
        if isinstance(rows, list) and rows:
            fig = plots.plot_formats(rows, title=f"{style.label(r)}: formats", color=style.colour(r))
            fig.set_label(f"formats of {style.label(r)}")
            out.append((r, rows, fig))
    return out


def report_figures(runs: Sequence[RunData], style: RunStyle | None = None) -> list[Figure]:
    """Every figure of the report of ``runs``, in page order (each labelled with its ``alt`` text)."""
    style = style or RunStyle.of(runs)
    single = [learning_rate_figure(runs, style), latency_figure(runs, style), per_class_figure(runs, style)]
    return [
        *training_figures(runs, style),
        *(f for f in single if f is not None),
        *(f for _, f in quantization_figures(runs, style)),
        *([f] if (f := mot_figure(runs, style)) is not None else []),
        *(f for _, _, f in formats_figures(runs, style)),
    ]


def _img(fig: Figure) -> str:
    """The figure as an embedded PNG (closed afterwards), its label as the ``alt`` text."""
    return f'<img alt="{html.escape(fig.get_label())}" src="{plots.figure_to_data_uri(fig)}">'


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, raw_header: bool = False, cls: str = "") -> str:
    """An HTML table, every cell escaped (header cells too unless ``raw_header``: already HTML)."""
    head = "".join(f"<th>{h if raw_header else html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    attr = f' class="{cls}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(anchor: str, title: str, content: str) -> str:
    return f'<section id="{anchor}"><h2>{html.escape(title)}</h2>{content}</section>'


def _none(what: str) -> str:
    return f'<p class="none">No {html.escape(what)} in these runs.</p>'


def _note(text: str) -> str:
    """A remark on part of a section that has data (not :func:`_none`: the section is not empty)."""
    return f'<p class="note">{html.escape(text)}</p>'


def _run_header(runs: Sequence[RunData], style: RunStyle, first: str = "key") -> list[str]:
    return [html.escape(first), *(style.swatch(r) for r in runs)]


def _summary(runs: Sequence[RunData], style: RunStyle) -> str:
    """The runs (colour, label, name, type, status, id, description), then the headline numbers."""
    rows = "".join(
        f"<tr><td>{style.swatch(r)}</td>"
        + "".join(f"<td>{html.escape(c)}</td>" for c in
                  (r.name, r.experiment_type, r.status, r.run_id, r.tags.get("mlflow.note.content", "")))
        + "</tr>"
        for r in runs
    )  # fmt: skip
    columns = ("run (as in the charts)", "name", "type", "status", "run id", "description")
    head = "".join(f"<th>{h}</th>" for h in columns)
    out = f'<table class="runs"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
    keys = [k for k in HEADLINE_KEYS if any(k in r.metrics for r in runs)]
    if keys:
        header = [*_run_header(runs, style), "Δ last-first", "Δ%"]
        out += "<h3>Headline numbers</h3>" + _table(header, comparison_rows(runs, keys), raw_header=True)
    return out


def _training(runs: Sequence[RunData], style: RunStyle) -> str:
    figures = training_figures(runs, style)
    if not figures:
        return _none("per-epoch history (training runs)")
    lr = learning_rate_figure(runs, style)
    trained = [r for r in runs if r.history]
    missing = [style.label(r) for r in trained if not any(k.startswith(LR_PREFIX) for k in r.history)]
    parts = [_img(f) for f in figures] + ["<h3>Learning rate per epoch</h3>"]
    if lr is not None:
        parts.append(_img(lr))
    if missing:
        parts.append(_note(f"No learning-rate history ({LR_PREFIX}pg0 ...) in {', '.join(missing)}: "
                           "not logged by the yololab that trained it."))  # fmt: skip
    return "".join(parts)


def _latency(runs: Sequence[RunData], style: RunStyle) -> str:
    fig = latency_figure(runs, style)
    return _none("latency samples") if fig is None else _img(fig)


def _per_class(runs: Sequence[RunData], style: RunStyle) -> str:
    fig = per_class_figure(runs, style)
    return _none("per-class AP") if fig is None else _img(fig)


def _quantization(runs: Sequence[RunData], style: RunStyle) -> str:
    parts = []
    for r, fig in quantization_figures(runs, style):
        rows = [[k, format_value(v)] for k, v in sorted(r.metrics.items()) if k.startswith("comparison.")]
        method = r.tags.get("yololab.quant.method", "")
        parts.append(f"<h3>{style.swatch(r)} — {html.escape(method)}</h3>" + _img(fig) + _table(["key", "value"], rows))
    return "".join(parts) or _none("quantization comparison")


def _formats(runs: Sequence[RunData], style: RunStyle) -> str:
    """Format sweeps (``yololab bench`` parent runs): the latency-vs-accuracy plot and the table of each."""
    parts = []
    fields = ("format", "precision", "model_size_mb", "mAP50", "mAP50_95", "accuracy_drop_mAP50",
              "inference_time_ms", "inference_time_p95_ms", "fps", "speedup_ratio", "status")  # fmt: skip
    for r, rows, fig in formats_figures(runs, style):
        table = [[v if isinstance(v := row.get(f), str) else format_value(v) for f in fields] for row in rows]
        recommended = html.escape(r.tags.get("yololab.bench.recommended", ""))
        heading = f"<h3>{style.swatch(r)} — recommended: {recommended}</h3>"
        parts.append(heading + _img(fig) + _table(list(fields), table))
    return "".join(parts)


def _mot(runs: Sequence[RunData], style: RunStyle) -> str:
    fig = mot_figure(runs, style)
    if fig is None:
        return _none("MOT metrics")
    parts = [_img(fig)]
    fields = ("hota", "mota", "idf1", "id_switches", "deta", "assa", "motp")
    for r in runs:
        if (table := _mot_table(r)) is not None:
            rows = [[name, *(format_value(v.get(f)) for f in fields)] for name, v in table.get("sequences", {}).items()]
            rows.append(["COMBINED", *(format_value(table.get("combined", {}).get(f)) for f in fields)])
            parts.append(f"<h3>{style.swatch(r)}</h3>" + _table(["sequence", *fields], rows))
    return "".join(parts)


def _differs(values: Iterable[str]) -> bool:
    return len(set(values)) > 1


def _config_panel(runs: Sequence[RunData], style: RunStyle) -> str:
    """Collapsible: each run's params and ``yololab.*`` tags side by side, rows where the runs differ marked."""
    params = sorted({k for r in runs for k in r.params})
    tags = sorted({k for r in runs for k in r.tags if k.startswith("yololab.")})
    parts = []
    for title, keys, get in (("Params", params, lambda r, k: r.params.get(k, "—")),
                             ("yololab.* tags", tags, lambda r, k: r.tags.get(k, "—"))):  # fmt: skip
        rows = [[k, *(get(r, k) for r in runs)] for k in keys]
        marked = [[f"≠ {row[0]}" if len(runs) > 1 and _differs(row[1:]) else row[0], *row[1:]] for row in rows]
        parts.append(f"<h3>{title}</h3>" + (_table(_run_header(runs, style), marked, raw_header=True, cls="kv")
                                             if rows else '<p class="note">none</p>'))  # fmt: skip
    summary = f"Config and tags of each run: {len(params)} params, {len(tags)} yololab.* tags (≠: the runs differ)"
    return f'<details id="config"><summary>{html.escape(summary)}</summary>{"".join(parts)}</details>'


def _all_metrics(runs: Sequence[RunData], style: RunStyle) -> str:
    keys = comparable_keys(runs)
    header = [*_run_header(runs, style), "Δ last-first", "Δ%"]
    table = _table(header, comparison_rows(runs, keys), raw_header=True)
    return f'<details id="all-metrics"><summary>All {len(keys)} metric keys side by side</summary>{table}</details>'


CSS = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1200px;color:#222}
h1{margin-bottom:.2rem}table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.85rem}
td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}th{background:#f4f4f4}td:first-child{text-align:left}
table.kv td{text-align:left;max-width:28rem;overflow-wrap:anywhere}table.runs td{text-align:left}
.swatch{display:inline-block;width:.8em;height:.8em;margin-right:.35em;vertical-align:-.05em;border-radius:2px}
details{margin-top:2rem}summary{font-size:1.2rem;font-weight:600;cursor:pointer}
img{max-width:100%;display:block;margin:.5rem 0}section{margin-top:2rem}.none,.note{color:#888}
nav a{margin-right:1rem}"""


def render_html(runs: Sequence[RunData]) -> str:
    """A self-contained HTML page (CSS inline, images embedded as data URIs) comparing ``runs``.

    Headline numbers first, then the charts (one colour per run in all of them), then two collapsible panels: each
    run's params and ``yololab.*`` tags, and every metric key side by side.
    """
    style = RunStyle.of(runs)
    sections = [
        _section("summary", "Runs: what was measured, and the headline numbers", _summary(runs, style)),
        _section("training", "Training: mAP, losses and learning rate per epoch", _training(runs, style)),
        _section("latency", "Latency per image (histogram and CDF)", _latency(runs, style)),
        _section("per-class-ap", "Per-class AP50-95", _per_class(runs, style)),
        _section("quantization", "Quantization: original vs quantized", _quantization(runs, style)),
        _section("mot", "Tracking: MOT metrics per sequence", _mot(runs, style)),
    ]
    anchors = list(SECTIONS)
    formats = _formats(runs, style)
    if formats:  # only when a format sweep is among the runs
        sections.append(_section("formats", "Deployment formats on this machine", formats))
        anchors.append("formats")
    nav = "".join(f'<a href="#{s}">{s}</a>' for s in (*anchors, *PANELS))
    panels = _config_panel(runs, style) + _all_metrics(runs, style)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>yololab report</title><style>{CSS}</style>"
            f"</head><body><h1>yololab report</h1><p>{len(runs)} run(s), generated {when}</p><nav>{nav}</nav>"
            + "".join(sections) + panels + "</body></html>")  # fmt: skip

"""Matplotlib figures shared by the runners (artifacts) and ``yololab compare`` (HTML report).

Every function returns a ``matplotlib.figure.Figure`` drawn with the non-interactive Agg backend and uses only
matplotlib's bundled DejaVu fonts, so nothing is downloaded and no display is needed.

Functions that draw several series take ``colors`` (series label -> colour): the report passes one colour per run,
so a run keeps its colour in every chart. Bars carry their values, and value axes always include the values drawn,
negative ones too (a MOTA below 0).
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from yololab.metrics.results import LR_PREFIX

EpochSeries = Mapping[str, Sequence[tuple[int, float]]]
"""metric key -> [(epoch, value), ...]"""

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")  # fmt: skip
"""Matplotlib's ``tab10``: the colours given to runs, in order."""

PERCENTILES = (50, 95, 99)
"""The latency percentiles marked on each CDF curve."""

LR_GROUPS = {"pg0": "weights (with decay)", "pg1": "normalisation weights", "pg2": "biases"}
"""Ultralytics' optimizer parameter groups, as named in ``train.lr.<group>``."""


def run_colours(keys: Iterable[str]) -> dict[str, str]:
    """One colour per key (a run id), in order, from :data:`PALETTE` (repeating after ten).

    Example:
        >>> run_colours(["a", "b"])
        {'a': '#1f77b4', 'b': '#ff7f0e'}
    """
    return {key: PALETTE[i % len(PALETTE)] for i, key in enumerate(keys)}


def _colour(colors: Mapping[str, str] | None, label: str, index: int) -> str:
    return (colors or {}).get(label) or PALETTE[index % len(PALETTE)]


def value_limits(values: Iterable[float], *, top: float = 1.02) -> tuple[float, float]:
    """Axis limits that include 0, ``top`` (1.02 for fractions) and every finite value, negative ones too.

    Example:
        >>> value_limits([0.5, 0.9])
        (0, 1.02)
        >>> low, high = value_limits([-0.3, 0.8]); low < -0.3 and high == 1.02
        True
    """
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    low, high = min([0.0, *finite]), max([top, *finite])
    if high <= low:
        return low, low + 1.0
    if high > top:
        high += 0.08 * (high - low)
    if low < 0:
        low -= 0.08 * (high - low)
        return low, high
    return 0, high


def _bar_labels(ax: Axes, container: object, values: Sequence[float], *, rotate: bool = False) -> None:
    """Each bar's value written at its end (above a positive bar, below a negative one); none for a missing one."""
    labels = ["" if v is None or not math.isfinite(v) else f"{v:.3g}" for v in values]
    ax.bar_label(container, labels=labels, fontsize=7, padding=2, rotation=90 if rotate else 0)  # type: ignore[arg-type]


def _zero_line(ax: Axes) -> None:
    if ax.get_ylim()[0] < 0:
        ax.axhline(0, color="black", linewidth=0.8)


def _grouped_bars(
    ax: Axes,
    series: Mapping[str, Mapping[str, float]],
    groups: Sequence[str],
    colors: Mapping[str, str] | None,
    hatches: Mapping[str, str] | None,
) -> None:
    """One group of bars per ``groups`` item, one bar per series, values written on the bars."""
    width = 0.8 / max(1, len(series))
    x = np.arange(len(groups))
    rotate = len(groups) * len(series) > 12
    for i, (label, values) in enumerate(series.items()):
        heights = [values.get(g, np.nan) for g in groups]
        hatch = (hatches or {}).get(label)
        bars = ax.bar(x + i * width, heights, width, label=label, color=_colour(colors, label, i),
                      hatch=hatch, alpha=0.55 if hatch else 1.0, edgecolor="white" if hatch else None)  # fmt: skip
        _bar_labels(ax, bars, heights, rotate=rotate)
    rotated = len(groups) > 3
    centres = x + width * (len(series) - 1) / 2
    ax.set_xticks(centres, groups, rotation=30 if rotated else 0, ha="right" if rotated else "center")
    all_values = [v for values in series.values() for v in values.values()]
    ax.set_ylim(*value_limits(all_values))
    _zero_line(ax)
    ax.grid(axis="y", alpha=0.3)


def plot_per_class_ap(
    series: Mapping[str, Mapping[str, float]],
    *,
    title: str = "Per-class AP50-95",
    ylabel: str = "AP",
    colors: Mapping[str, str] | None = None,
    hatches: Mapping[str, str] | None = None,
) -> Figure:
    """Grouped bars: one group per class (or sequence), one bar per series (e.g. per run, or original vs quantized).

    Args:
        series: series label -> class -> value.
        title: the figure title.
        ylabel: the value axis label.
        colors: series label -> colour (default: :data:`PALETTE` in order).
        hatches: series label -> hatch pattern, drawn lighter (e.g. a quantization run's original model).
    """
    classes = sorted({c for values in series.values() for c in values})
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(classes) * max(1, len(series))), 4))
    _grouped_bars(ax, series, classes, colors, hatches)
    ax.set(title=title, ylabel=ylabel)
    if len(series) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_metric_panels(
    panels: Mapping[str, Mapping[str, Mapping[str, float]]],
    *,
    title: str,
    colors: Mapping[str, str] | None = None,
) -> Figure:
    """One subplot per metric (e.g. HOTA, MOTA, IDF1), groups (e.g. sequences) on x, one bar per series (run).

    Args:
        panels: metric -> series label -> group -> value.
        title: the figure title.
        colors: series label -> colour.
    """
    n = max(1, len(panels))
    groups = max(len({g for values in p.values() for g in values}) for p in panels.values()) if panels else 1
    series = max((len(p) for p in panels.values()), default=1)
    fig, axes = plt.subplots(1, n, figsize=(max(4.0, 0.5 * groups * series + 1.5) * n, 4.2), squeeze=False)
    for ax, (metric, values) in zip(axes[0], panels.items(), strict=False):
        ordered = list(dict.fromkeys(g for v in values.values() for g in v))
        _grouped_bars(ax, values, ordered, colors, None)
        ax.set_title(metric, fontsize=10)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if labels:
        fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.08 if labels else 0, 1, 1))
    return fig


def plot_epoch_curves(history: EpochSeries, *, title: str = "Training") -> Figure:
    """Per-epoch curves of one run: mAP/precision/recall on the left, losses on the right."""
    fig, (ax_q, ax_l) = plt.subplots(1, 2, figsize=(11, 4))
    for key, points in sorted(history.items()):
        if not points:
            continue
        steps, values = zip(*points, strict=True)
        name = key.split(".", 1)[-1]
        target = ax_l if name.endswith("_loss") else ax_q
        target.plot(steps, values, marker="o", markersize=3, label=name)
    ax_q.set(title=f"{title}: accuracy", xlabel="epoch", ylabel="fraction", ylim=(0, 1.02))
    ax_l.set(title=f"{title}: losses", xlabel="epoch", ylabel="loss")
    for ax in (ax_q, ax_l):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def _training_panels(histories: Mapping[str, EpochSeries]) -> dict[str, list[tuple[str, str]]]:
    """Panel title -> [(metric key, line style)]: one panel per accuracy key, one per loss (train solid, val dashed)."""
    keys = sorted({k for h in histories.values() for k, points in h.items() if points})
    panels: dict[str, list[tuple[str, str]]] = {}
    for key in keys:
        name = key.partition(".")[2]
        if name.startswith("val_") and name.endswith("_loss"):
            panels.setdefault(name[4:], []).append((key, "--"))
        else:
            panels.setdefault(name, []).insert(0, (key, "-"))
    return dict(sorted(panels.items(), key=lambda item: (item[0].endswith("_loss"), item[0])))


def plot_training(
    histories: Mapping[str, EpochSeries],
    *,
    colors: Mapping[str, str] | None = None,
    title: str = "Training",
    last_epoch: Mapping[str, int] | None = None,
) -> Figure:
    """Per-epoch curves of several runs: one subplot per metric, one line per run (val losses dashed).

    Args:
        histories: series label (a run) -> metric key -> [(epoch, value), ...].
        colors: series label -> colour.
        title: the figure title.
        last_epoch: series label -> its last epoch; a point at a later step (the final evaluation of ``best.pt``,
            logged at step N + 1) is drawn as a star, not joined to the epochs' line.
    """
    panels = _training_panels(histories)
    cols = min(4, max(1, len(panels)))
    rows = max(1, math.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.9 * rows + 0.6), squeeze=False)
    for ax, (name, keys) in zip(axes.flat, panels.items(), strict=False):
        for i, (label, history) in enumerate(histories.items()):
            for key, style in keys:
                end = (last_epoch or {}).get(label)
                _epoch_line(ax, history.get(key) or [], end, style, _colour(colors, label, i), label)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if not name.endswith("_loss"):
            ax.set_ylim(*value_limits(y for line in ax.get_lines() for y in line.get_ydata()))
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    _figure_legend(fig, axes.flat)
    fig.suptitle(title)
    return fig


def _epoch_line(
    ax: Axes, points: Sequence[tuple[int, float]], last_epoch: int | None, style: str, colour: str, label: str
) -> None:
    """The points up to ``last_epoch`` as a line, any later one as a star labelled ``<label> final``."""
    epochs = [p for p in points if last_epoch is None or p[0] <= last_epoch]
    final = [p for p in points if last_epoch is not None and p[0] > last_epoch]
    suffix = " (val)" if style == "--" else ""
    if epochs:
        steps, values = zip(*epochs, strict=True)
        ax.plot(steps, values, style, marker="o", markersize=2.5, color=colour, label=f"{label}{suffix}")
    if final:
        steps, values = zip(*final, strict=True)
        ax.plot(steps, values, "*", markersize=9, color=colour, label=f"{label} final (best.pt)")


def _figure_legend(fig: Figure, axes: Iterable[Axes]) -> None:
    """One legend under the subplots, each label once, or none when nothing is labelled."""
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    if seen:
        ncol = min(4, len(seen))
        fig.legend(list(seen.values()), list(seen), loc="lower center", ncol=ncol, fontsize=8)
    rows = math.ceil(len(seen) / 4) if seen else 0
    fig.tight_layout(rect=(0, min(0.3, 0.05 * rows + 0.02 * bool(rows)), 1, 0.93))


def plot_learning_rates(
    histories: Mapping[str, EpochSeries], *, colors: Mapping[str, str] | None = None, prefix: str = LR_PREFIX
) -> Figure:
    """The learning rate per epoch of each optimizer parameter group (one subplot per group), one line per run.

    Args:
        histories: series label (a run) -> metric key -> [(epoch, value), ...]; the keys starting with ``prefix``
            (``train.lr.pg0`` ...) are drawn.
        colors: series label -> colour.
        prefix: the key prefix of the learning rates.
    """
    groups = sorted({k[len(prefix) :] for h in histories.values() for k in h if k.startswith(prefix)})
    fig, axes = plt.subplots(1, max(1, len(groups)), figsize=(3.8 * max(1, len(groups)), 3.4), squeeze=False)
    for ax, group in zip(axes[0], groups, strict=False):
        for i, (label, history) in enumerate(histories.items()):
            points = history.get(prefix + group)
            if points:
                steps, values = zip(*points, strict=True)
                ax.plot(steps, values, marker="o", markersize=2.5, color=_colour(colors, label, i), label=label)
        ax.set_title(f"{group}: {LR_GROUPS.get(group, 'parameter group')}", fontsize=9)
        ax.set(xlabel="epoch", ylabel="learning rate")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
        ax.grid(alpha=0.3)
    _figure_legend(fig, axes[0])
    fig.suptitle("Learning rate per epoch")
    return fig


def plot_latency(
    samples_ms: Mapping[str, Sequence[float]],
    *,
    title: str = "Latency per image",
    colors: Mapping[str, str] | None = None,
    linestyles: Mapping[str, str] | None = None,
) -> Figure:
    """Histogram and empirical CDF of latency samples (ms), one curve per series.

    p50/p95/p99 are marked on each series' own CDF curve, in its colour, and labelled with their value.

    Args:
        samples_ms: series label -> latency samples (ms).
        title: the figure title.
        colors: series label -> colour.
        linestyles: series label -> line style (e.g. ``"--"`` for a quantization run's original model).
    """
    fig, (ax_h, ax_c) = plt.subplots(1, 2, figsize=(11, 4))
    for i, (label, samples) in enumerate(samples_ms.items()):
        values = np.sort(np.asarray(samples, dtype=float))
        if values.size == 0:
            continue
        colour, style = _colour(colors, label, i), (linestyles or {}).get(label, "-")
        ax_h.hist(values, bins=min(50, max(5, values.size // 4)), alpha=0.5, color=colour, label=label,
                  histtype="stepfilled", linestyle=style, edgecolor=colour)  # fmt: skip
        ax_c.plot(values, np.arange(1, values.size + 1) / values.size, style, color=colour, label=label)
        _mark_percentiles(ax_c, values, colour, i)
    ax_h.set(title=f"{title}: histogram", xlabel="ms", ylabel="iterations")
    ax_c.set(title=f"{title}: CDF (marked: p50/p95/p99)", xlabel="ms", ylabel="fraction <= x", ylim=(0, 1.01))
    for ax in (ax_h, ax_c):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="lower right" if ax is ax_c else "upper right")
    fig.tight_layout()
    return fig


def _mark_percentiles(ax: Axes, values: np.ndarray, colour: str, index: int) -> None:
    """Points on the CDF curve at p50/p95/p99, with a dotted drop line and ``p95 12.3`` in the curve's colour."""
    for q in PERCENTILES:
        x = float(np.percentile(values, q))
        ax.plot([x, x], [0, q / 100], ":", color=colour, linewidth=0.8)
        ax.plot([x], [q / 100], "o", color=colour, markersize=4)
        ax.annotate(f"p{q} {x:.3g}", (x, q / 100), textcoords="offset points", xytext=(5, -10 - 9 * index),
                    fontsize=7, color=colour)  # fmt: skip


def plot_bars(
    values: Mapping[str, Mapping[str, float]],
    *,
    title: str,
    ylabel: str = "",
    colors: Mapping[str, str] | None = None,
    hatches: Mapping[str, str] | None = None,
) -> Figure:
    """One subplot per metric, one bar per series, each bar labelled with its value: ``values[metric][series]``.

    Args:
        values: metric -> series label -> value (NaN: not measured, no bar, labelled "not measured").
        title: the figure title.
        ylabel: the value axis label.
        colors: series label -> colour (default: :data:`PALETTE` in order).
        hatches: series label -> hatch pattern, drawn lighter.
    """
    metrics = list(values)
    fig, axes = plt.subplots(1, max(1, len(metrics)), figsize=(3.2 * max(1, len(metrics)), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=False):
        labels = list(values[metric])
        heights = [values[metric][k] for k in labels]
        for i, (label, height) in enumerate(zip(labels, heights, strict=True)):
            hatch = (hatches or {}).get(label)
            bars = ax.bar([i], [height], color=_colour(colors, label, i), hatch=hatch, label=label,
                          alpha=0.55 if hatch else 1.0, edgecolor="white" if hatch else None)  # fmt: skip
            _bar_labels(ax, bars, [height])
            if not math.isfinite(height):
                ax.annotate("not measured", (i, 0), ha="center", va="bottom", fontsize=7, color="grey")
        ax.set_xticks(range(len(labels)), labels)
        ax.set_ylim(*value_limits(heights, top=0))
        _zero_line(ax)
        ax.set_title(metric, fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="y", alpha=0.3)
        if ylabel:
            ax.set_ylabel(ylabel)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


QUANTIZATION_BARS = (
    ("mAP50", "det", "mAP50"),
    ("mAP50-95", "det", "mAP50_95"),
    ("latency ms (mean)", "sys", "inference_time_ms"),
    ("size MB", "sys", "model_size_mb"),
)
"""(bar title, family, field) of the original-vs-quantized chart."""


def plot_quantization(
    metrics: Mapping[str, float], *, title: str = "original vs quantized", color: str | None = None
) -> Figure:
    """Original vs quantized bars from a quantization run's keys (``det.original.mAP50``, ``sys.quantized.*`` ...).

    Args:
        metrics: the run's metrics; a value that was not measured has no bar and says so.
        title: the figure title.
        color: the run's colour: the quantized bars in it, the original ones lighter and hatched (default: two
            palette colours).
    """
    bars = {
        name: {side: metrics.get(f"{family}.{side}.{key}", math.nan) for side in ("original", "quantized")}
        for name, family, key in QUANTIZATION_BARS
    }
    if color is None:
        return plot_bars(bars, title=title)
    return plot_bars(bars, title=title, colors={"original": color, "quantized": color}, hatches={"original": "//"})


def plot_formats(
    rows: Sequence[Mapping[str, float | str | None]],
    *,
    title: str = "Formats on this machine",
    color: str | None = None,
) -> Figure:
    """Latency against accuracy, one point per deployment format, marker area proportional to the file size.

    Args:
        rows: one mapping per format with ``format``, ``inference_time_ms`` (mean end to end, ms), ``mAP50_95`` and
            ``model_size_mb``; a format missing latency or accuracy is left out.
        title: the figure title.
        color: the colour of every point (the sweep's run colour in the report); default: one palette colour each.
    """
    fig, ax = plt.subplots(figsize=(8, 5))
    points = [r for r in rows if r.get("inference_time_ms") is not None and r.get("mAP50_95") is not None]
    sizes = [float(r.get("model_size_mb") or 1.0) for r in points]
    scale = 900.0 / max(sizes) if sizes else 1.0
    for i, (row, size) in enumerate(zip(points, sizes, strict=True)):
        x, y = float(row["inference_time_ms"]), float(row["mAP50_95"])  # type: ignore[arg-type]
        ax.scatter(x, y, s=max(30.0, size * scale), alpha=0.55, edgecolors="black", color=color or _colour(None, "", i))
        ax.annotate(f"{row['format']} ({size:.1f} MB)", (x, y), textcoords="offset points", xytext=(6, 6), fontsize=8)
    ax.set(title=title, xlabel="mean latency per image, end to end (ms)", ylabel="mAP50-95")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as PNG (100 dpi) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def figure_to_data_uri(fig: Figure) -> str:
    """``data:image/png;base64,...`` of ``fig`` (closed afterwards), for self-contained HTML."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")

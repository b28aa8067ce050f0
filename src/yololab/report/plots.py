"""Matplotlib figures shared by the runners (artifacts) and ``yololab compare`` (HTML report).

Every function returns a ``matplotlib.figure.Figure`` drawn with the non-interactive Agg backend and uses only
matplotlib's bundled DejaVu fonts, so nothing is downloaded and no display is needed.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

EpochSeries = Mapping[str, Sequence[tuple[int, float]]]
"""metric key -> [(epoch, value), ...]"""


def plot_epoch_curves(history: EpochSeries, *, title: str = "Training") -> Figure:
    """Per-epoch curves: mAP/precision/recall on the left, losses on the right."""
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


def plot_per_class_ap(
    series: Mapping[str, Mapping[str, float]], *, title: str = "Per-class AP50-95", ylabel: str = "AP"
) -> Figure:
    """Grouped bars: one group per class (or sequence), one bar per series (e.g. per run, or original vs quantized)."""
    classes = sorted({c for values in series.values() for c in values})
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(classes) * max(1, len(series))), 4))
    width = 0.8 / max(1, len(series))
    x = np.arange(len(classes))
    for i, (label, values) in enumerate(series.items()):
        ax.bar(x + i * width, [values.get(c, np.nan) for c in classes], width, label=label)
    ax.set_xticks(x + width * (len(series) - 1) / 2, classes, rotation=30, ha="right")
    ax.set(title=title, ylabel=ylabel, ylim=(0, 1.02))
    ax.grid(axis="y", alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_latency(samples_ms: Mapping[str, Sequence[float]], *, title: str = "Latency per image") -> Figure:
    """Histogram and empirical CDF of latency samples (ms), one curve per series; p50/p95/p99 marked."""
    fig, (ax_h, ax_c) = plt.subplots(1, 2, figsize=(11, 4))
    for label, samples in samples_ms.items():
        values = np.sort(np.asarray(samples, dtype=float))
        if values.size == 0:
            continue
        ax_h.hist(values, bins=min(50, max(5, values.size // 4)), alpha=0.6, label=label)
        ax_c.plot(values, np.arange(1, values.size + 1) / values.size, label=label)
        for q in (50, 95, 99):
            ax_c.axvline(np.percentile(values, q), linestyle=":", linewidth=0.8, color="grey")
    ax_h.set(title=f"{title}: histogram", xlabel="ms", ylabel="iterations")
    ax_c.set(title=f"{title}: CDF (dotted: p50/p95/p99)", xlabel="ms", ylabel="fraction <= x", ylim=(0, 1.01))
    for ax in (ax_h, ax_c):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_bars(values: Mapping[str, Mapping[str, float]], *, title: str, ylabel: str = "") -> Figure:
    """One subplot per metric, one bar per series: ``values[metric][series]``."""
    metrics = list(values)
    fig, axes = plt.subplots(1, max(1, len(metrics)), figsize=(3.2 * max(1, len(metrics)), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=False):
        labels = list(values[metric])
        ax.bar(labels, [values[metric][k] for k in labels], color=["#4c72b0", "#dd8452", "#55a868", "#c44e52"])
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


def plot_quantization(metrics: Mapping[str, float], *, title: str = "original vs quantized") -> Figure:
    """Original vs quantized bars from a quantization run's keys.

    Keys ``det.original.mAP50``, ``sys.quantized.*`` ...; a value that was not measured is drawn as 0.
    """
    bars = {
        name: {side: metrics.get(f"{family}.{side}.{key}", 0.0) for side in ("original", "quantized")}
        for name, family, key in QUANTIZATION_BARS
    }
    return plot_bars(bars, title=title)


def plot_formats(rows: Sequence[Mapping[str, float | str | None]], *, title: str = "Formats on this machine") -> Figure:
    """Latency against accuracy, one point per deployment format, marker area proportional to the file size.

    Args:
        rows: one mapping per format with ``format``, ``inference_time_ms`` (mean end to end, ms), ``mAP50_95`` and
            ``model_size_mb``; a format missing latency or accuracy is left out.
        title: the figure title.
    """
    fig, ax = plt.subplots(figsize=(8, 5))
    points = [r for r in rows if r.get("inference_time_ms") is not None and r.get("mAP50_95") is not None]
    sizes = [float(r.get("model_size_mb") or 1.0) for r in points]
    scale = 900.0 / max(sizes) if sizes else 1.0
    for row, size in zip(points, sizes, strict=True):
        x, y = float(row["inference_time_ms"]), float(row["mAP50_95"])  # type: ignore[arg-type]
        ax.scatter(x, y, s=max(30.0, size * scale), alpha=0.55, edgecolors="black")
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

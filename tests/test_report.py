"""The HTML report of ``yololab compare`` and its charts, built from :class:`RunData` made here (no MLflow).

What is checked is what a reader of the report sees: each run in one colour in every chart, legends naming the model
or format, values written on the bars, negative values inside the axes, percentiles on their own curve, the
learning-rate curves, and the config/tags panel with its values escaped.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pytest
from matplotlib.colors import to_rgb
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from yololab.adapters.mlflow_reader import RunData
from yololab.report.compare import (
    LR_PREFIX,
    PANELS,
    SECTIONS,
    RunStyle,
    learning_rate_figure,
    mot_figure,
    per_class_figure,
    render_html,
    report_figures,
    run_labels,
)

EPOCHS = range(1, 6)
LR_HISTORY = {
    f"{LR_PREFIX}pg{g}": [(e, 0.01 * (1 - e / 6) + (0.09 * (g == 2) if e == 1 else 0.0)) for e in EPOCHS]
    for g in range(3)
}
MOT_TABLE = {
    "sequences": {"seq-01": {"hota": 0.41, "mota": -0.25, "idf1": 0.5}, "seq-02": {"hota": 0.6, "mota": 0.3,
                                                                              "idf1": 0.7}},
    "combined": {"hota": 0.5, "mota": -0.12, "idf1": 0.6},
}  # fmt: skip


def _samples(mean: float, n: int = 200) -> list[float]:
    rng = random.Random(mean)
    return [rng.gauss(mean, mean / 10) for _ in range(n)]


def _train() -> RunData:
    history: dict[str, list[tuple[int, float]]] = {
        "det.mAP50": [*((e, 0.15 * e) for e in EPOCHS), (6, 0.74)],  # step 6: the final evaluation of best.pt
        "det.box_loss": [(e, 2 - 0.2 * e) for e in EPOCHS],
        "det.val_box_loss": [(e, 2.1 - 0.2 * e) for e in EPOCHS],
        **LR_HISTORY,
    }
    return RunData(
        "7a1b2c3d4e5f", "train", "train", "FINISHED", {"det.mAP50": 0.75, "det.ap.person": 0.62, "det.ap.car": 0.55},
        {"model": "yolo11n.yaml", "train.epochs": "5", "tags.note": "<script>alert(1)</script>"},
        {"yololab.experiment_type": "train", "yololab.device": "cpu", "mlflow.user": "someone"}, history,
    )  # fmt: skip


def _infer(run_id: str, model: str, mean_ms: float, **metrics: float) -> RunData:
    return RunData(
        run_id, "infer", "infer", "FINISHED", {"det.ap.person": 0.6, "det.ap.car": 0.5, **metrics},
        {"model": model}, {"yololab.experiment_type": "infer", "yololab.model_format": Path(model).suffix}, {},
        {"latency/samples_ms.json": {"end_to_end": _samples(mean_ms)}, "tables/mot_metrics.json": MOT_TABLE},
    )  # fmt: skip


def _quant() -> RunData:
    metrics = {"comparison.speedup_ratio": 1.5, "det.original.mAP50": 0.5, "det.quantized.mAP50": 0.48,
               "det.original.mAP50_95": 0.3, "det.quantized.mAP50_95": 0.29, "sys.original.inference_time_ms": 10.0,
               "sys.quantized.inference_time_ms": 6.5, "sys.original.model_size_mb": 10.2,
               "sys.quantized.model_size_mb": 2.9, "det.original.ap.person": 0.41,
               "det.quantized.ap.person": 0.39}  # fmt: skip
    return RunData(
        "dd00ee11ff22", "quant-onnx-int8-static", "quant", "FINISHED", metrics, {"model": "runs/w/best.pt"},
        {"yololab.experiment_type": "quant", "yololab.quant.method": "onnx-int8-static"}, {},
        {"latency/samples_ms.json": {"original": _samples(10.0), "quantized": _samples(6.5)}},
    )  # fmt: skip


@pytest.fixture(autouse=True)
def _close_figures() -> Any:
    yield
    plt.close("all")


@pytest.fixture
def runs() -> list[RunData]:
    """A training run, a .pt and an .onnx inference run (the .pt one with a negative MOTA) and a quantization run."""
    return [
        _train(),
        _infer("db8aaec6aaaa", "runs/w/best.pt", 12.0, **{"mot.mota": -0.12}),
        _infer("0f0f0f0f1234", "runs/w/best.onnx", 7.0, **{"mot.mota": 0.2}),
        _quant(),
    ]


def _axes(fig: Figure, title: str) -> Any:
    return next(ax for ax in fig.axes if ax.get_title() == title)


def _legend_texts(fig: Figure) -> list[str]:
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    return [t.get_text() for legend in legends for t in legend.get_texts()]


def _labelled_colours(fig: Figure) -> dict[str, set[tuple[float, ...]]]:
    """Label of each line, bar group and histogram in ``fig`` -> the RGB colours it is drawn in."""
    found: dict[str, set[tuple[float, ...]]] = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            found.setdefault(line.get_label(), set()).add(to_rgb(line.get_color()))
        for container in ax.containers:
            if isinstance(container, BarContainer):
                colours = {to_rgb(bar.get_facecolor()) for bar in container.patches}
                found.setdefault(container.get_label(), set()).update(colours)
        for patch in ax.patches:
            found.setdefault(patch.get_label(), set()).add(to_rgb(patch.get_facecolor()))
    return {label: colours for label, colours in found.items() if not label.startswith("_")}


@pytest.mark.quick
def test_a_negative_mota_is_drawn_below_zero(runs: list[RunData]) -> None:
    style = RunStyle.of(runs)
    fig = mot_figure(runs, style)
    assert fig is not None
    ax = _axes(fig, "MOTA")
    bars = next(c for c in ax.containers if c.get_label() == style.label(runs[1]))
    heights = [bar.get_height() for bar in bars.patches]
    assert heights == [-0.25, 0.3, -0.12]  # seq-01, seq-02, COMBINED
    low, high = ax.get_ylim()
    assert low < -0.25 and high >= 0.3
    assert all(bar.get_y() + min(0, bar.get_height()) >= low for bar in bars.patches)


@pytest.mark.quick
def test_a_run_keeps_its_colour_in_every_figure(runs: list[RunData]) -> None:
    style = RunStyle.of(runs)
    figures = report_figures(runs, style)
    assert len({to_rgb(style.colour(r)) for r in runs}) == len(runs), "two runs share a colour"
    assert {f.get_label() for f in figures} >= {"training curves per epoch", "learning rate per epoch",
                                                "latency CDF", "per-class AP", "MOT metrics per sequence"}  # fmt: skip
    seen = {r.run_id: 0 for r in runs}
    for fig in figures:
        for label, colours in _labelled_colours(fig).items():
            owner = [r for r in runs if label.startswith(style.label(r))]
            if fig.get_label().startswith("quantization"):  # bars "original"/"quantized" of the one quant run
                owner = [runs[3]]
            assert owner, f"{fig.get_label()}: {label!r} names no run"
            run = max(owner, key=lambda r: len(style.label(r)))
            assert colours == {to_rgb(style.colour(run))}, f"{fig.get_label()}: {label!r} in {colours}"
            seen[run.run_id] += 1
    assert all(seen.values()), f"a run drawn in no figure: {seen}"


@pytest.mark.quick
def test_bars_carry_their_values(runs: list[RunData]) -> None:
    style = RunStyle.of(runs)
    per_class = per_class_figure(runs, style)
    mot = mot_figure(runs, style)
    quant = next(f for f in report_figures(runs, style) if f.get_label().startswith("quantization"))
    assert per_class is not None and mot is not None
    texts = {t.get_text() for t in per_class.axes[0].texts}
    assert {"0.62", "0.55", "0.6", "0.5", "0.41", "0.39"} <= texts
    assert {"-0.25", "0.3", "-0.12"} <= {t.get_text() for t in _axes(mot, "MOTA").texts}
    assert {"0.48", "6.5", "2.9"} <= {t.get_text() for ax in quant.axes for t in ax.texts}


@pytest.mark.quick
def test_legends_name_the_model_or_format(runs: list[RunData]) -> None:
    labels = run_labels(runs)
    assert list(labels.values()) == ["yolo11n.yaml", "best.pt", "best.onnx", "best.pt → onnx-int8-static"]
    legends = {text for fig in report_figures(runs) for text in _legend_texts(fig)}
    assert {"best.pt", "best.onnx", "best.pt → onnx-int8-static original", "yolo11n.yaml"} <= legends
    assert not [text for text in legends if re.search(r"\([0-9a-f]{8}\)", text)], legends


@pytest.mark.quick
def test_the_short_id_tells_apart_only_labels_that_would_be_equal() -> None:
    same = [_infer("aaaa1111bbbb", "a/best.pt", 9.0), _infer("cccc2222dddd", "b/best.pt", 9.0)]
    assert list(run_labels(same).values()) == ["best.pt (aaaa1111)", "best.pt (cccc2222)"]
    same[1].name = "infer-night"
    assert list(run_labels(same).values()) == ["best.pt · infer", "best.pt · infer-night"]
    bench = RunData("eeee3333ffff", "bench/openvino", "bench", "FINISHED", {}, {}, {"yololab.format": "openvino"})
    assert run_labels([bench, *same[:1]]) == {"eeee3333ffff": "openvino", "aaaa1111bbbb": "best.pt"}


@pytest.mark.quick
def test_learning_rate_curves_are_the_histories(runs: list[RunData]) -> None:
    style = RunStyle.of(runs)
    fig = learning_rate_figure(runs, style)
    assert fig is not None
    for group in ("pg0", "pg1", "pg2"):
        ax = next(a for a in fig.axes if a.get_title().startswith(f"{group}:"))
        (line,) = ax.get_lines()
        assert line.get_label() == "yolo11n.yaml"
        assert list(zip(line.get_xdata(), line.get_ydata(), strict=True)) == LR_HISTORY[f"{LR_PREFIX}{group}"]
        assert to_rgb(line.get_color()) == to_rgb(style.colour(runs[0]))
    training = next(f for f in report_figures(runs, style) if f.get_label() == "training curves per epoch")
    assert not [line for ax in training.axes for line in ax.get_lines() if "lr" in ax.get_title()]


@pytest.mark.quick
def test_the_final_evaluation_is_a_star_after_the_epochs(runs: list[RunData]) -> None:
    fig = next(f for f in report_figures(runs) if f.get_label() == "training curves per epoch")
    lines = {line.get_label(): line for line in _axes(fig, "mAP50").get_lines()}
    assert list(lines["yolo11n.yaml"].get_xdata()) == list(EPOCHS)
    final = lines["yolo11n.yaml final (best.pt)"]
    assert list(zip(final.get_xdata(), final.get_ydata(), strict=True)) == [(6, 0.74)] and final.get_marker() == "*"
    assert list(_axes(fig, "box_loss").get_lines()[0].get_xdata()) == list(EPOCHS)


def _part(page: str, start: str, end: str) -> str:
    begin = page.index(start)
    return page[begin : page.index(end, begin)]


@pytest.mark.quick
def test_training_without_learning_rates_says_so(runs: list[RunData]) -> None:
    runs[0].history = {k: v for k, v in runs[0].history.items() if not k.startswith(LR_PREFIX)}
    assert learning_rate_figure(runs, RunStyle.of(runs)) is None
    training = _part(render_html(runs), '<section id="training">', "</section>")
    assert "<img" in training and 'class="note"' in training and "No learning-rate history" in training
    assert "yolo11n.yaml" in training


@pytest.mark.quick
def test_percentiles_sit_on_their_own_curve(runs: list[RunData]) -> None:
    style = RunStyle.of(runs)
    fig = next(f for f in report_figures(runs, style) if f.get_label() == "latency CDF")
    ax = fig.axes[1]
    marks = [t for t in ax.texts if t.get_text().startswith("p95 ")]
    assert len(marks) == 4  # two inference runs, the quantization run's two sides
    for label, run in ((style.label(runs[1]), runs[1]), (style.label(runs[2]), runs[2])):
        (curve,) = [line for line in ax.get_lines() if line.get_label() == label]
        x, y = curve.get_xdata(), curve.get_ydata()
        mark = next(t for t in marks if to_rgb(t.get_color()) == to_rgb(style.colour(run)))
        px, py = mark.xy
        assert py == 0.95 and x[0] <= px <= x[-1]
        assert abs(float(mark.get_text().split()[1]) - px) <= 0.01 * px
        assert min(y[x >= px]) >= 0.95 - 1 / len(x), "the p95 mark is not on the run's CDF curve"


@pytest.mark.quick
def test_config_panel_lists_params_and_tags_escaped(runs: list[RunData]) -> None:
    page = render_html(runs)
    panel = _part(page, '<details id="config">', "</details>")
    for key in ("model", "train.epochs", "tags.note", "yololab.device", "yololab.quant.method"):
        assert f"<td>{key}</td>" in panel or f"<td>≠ {key}</td>" in panel, key
    assert "yolo11n.yaml" in panel and "onnx-int8-static" in panel
    assert "mlflow.user" not in panel, "only the yololab.* tags"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in panel
    assert "<script" not in page


@pytest.mark.quick
def test_page_order_headline_first_plots_then_collapsible_panels(runs: list[RunData]) -> None:
    page = render_html(runs)
    ids = re.findall(r'<(section|details) id="([^"]+)"', page)
    assert ids == [("section", s) for s in SECTIONS] + [("details", p) for p in PANELS]
    summary = _part(page, '<section id="summary">', "</section>")
    assert "Headline numbers" in summary and "<td>mot.mota</td>" in summary and "<td>-0.12</td>" in summary
    assert "<img" not in summary
    every_key = _part(page, '<details id="all-metrics">', "</details>")
    assert "<td>comparison.speedup_ratio</td>" in every_key
    assert 'src="http' not in page and "<link" not in page


@pytest.mark.quick
def test_a_format_sweep_is_drawn_in_its_run_colour(runs: list[RunData]) -> None:
    rows = [{"format": "torch", "precision": "fp32", "model_size_mb": 5.4, "mAP50_95": 0.61, "inference_time_ms": 9.0,
             "status": "ok"},
            {"format": "openvino-int8", "precision": "int8", "model_size_mb": 1.6, "mAP50_95": 0.59,
             "inference_time_ms": 3.1, "status": "ok"}]  # fmt: skip
    sweep = RunData("beefbeef0000", "bench", "bench", "FINISHED", {}, {"model": "runs/w/best.pt"},
                    {"yololab.bench.recommended": "openvino-int8"}, {}, {"tables/formats.json": rows})  # fmt: skip
    runs = [*runs, sweep]
    style = RunStyle.of(runs)
    fig = report_figures(runs, style)[-1]
    assert fig.get_label() == "formats of best.pt format sweep"
    points = fig.axes[0].collections
    assert len(points) == 2 and all(to_rgb(p.get_facecolor()[0]) == to_rgb(style.colour(sweep)) for p in points)
    body = _part(render_html(runs), '<section id="formats">', "</section>")
    assert "<img" in body and "recommended: openvino-int8" in body and "<td>openvino-int8</td>" in body


@pytest.mark.integration
def test_learning_rate_histories_are_read_back(mlflow_server: Any, tmp_path: Path) -> None:
    """A training run's ``train.lr.*`` keys come back from MLflow as per-epoch histories, one value per step."""
    from yololab.adapters.mlflow_reader import load_runs
    from yololab.adapters.mlflow_recorder import ExperimentRecorder

    with ExperimentRecorder(experiment_name="report-tests", experiment_type="train", run_name="lr",
                            tracking_uri=mlflow_server.uri, journal_dir=tmp_path / "journal") as rec:  # fmt: skip
        for epoch in EPOCHS:
            rates = {k: dict(v)[epoch] for k, v in LR_HISTORY.items()}
            rec.log_metrics({"det.mAP50": 0.1 * epoch, **rates}, step=epoch)
    (run,) = load_runs([rec.run_id], tracking_uri=mlflow_server.uri)
    assert {k: v for k, v in run.history.items() if k.startswith(LR_PREFIX)} == LR_HISTORY
    assert run.history["det.mAP50"] == [(e, 0.1 * e) for e in EPOCHS]

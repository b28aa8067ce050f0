"""FormatSweepRunner (``yololab bench``): which deployment format to ship on this machine, measured side by side.

The original ``.pt`` and each requested format are produced once (the FP32 ONNX export is shared by every ONNX
format), validated by the same validator and timed by the same loop in alternating blocks, in one process — exactly
as a ``quant`` experiment measures its pair. One MLflow **parent run** holds the table, the latency-vs-accuracy plot
and the recommendation; one **child run** per format (tag ``mlflow.parentRunId``) holds that format's ``det.*`` and
``sys.*`` (the keys of an inference run) and ``comparison.*`` against the original. A format that cannot be produced,
validated or timed here is a child run ended FAILED with the reason (``yololab.failure_reason``); the sweep goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yololab.adapters.mlflow_recorder import ExperimentRecorder
from yololab.adapters.ultralytics_model import (
    BenchmarkResult,
    benchmark_models,
    load_model,
    read_images,
    validate_model,
)
from yololab.config import BenchExperiment
from yololab.metrics.detection import DetectionMetrics
from yololab.metrics.keys import class_key_map
from yololab.metrics.results import ComparisonMetrics, InferenceMetricsResult
from yololab.metrics.system import SystemMetrics
from yololab.quant_methods import FORMAT_PRECISION
from yololab.runners._common import (
    MeasuringRunner,
    PreparedData,
    check_model,
    console,
    describe_run,
    import_in_background,
    log_datasets,
    model_stats_metrics,
    unavailable_tags,
)
from yololab.runners.quant import evenly_spaced, gate_limits
from yololab.tables import rows_to_csv

ORIGINAL = "torch"
"""The comparison baseline of every format: the ``.pt`` itself, run by PyTorch."""


@dataclass
class FormatOutcome:
    """One format of a sweep: its child run, what was measured, or why nothing was."""

    format: str
    run_id: str | None = None
    artifact: Path | None = None
    detection: DetectionMetrics | None = None
    system: SystemMetrics | None = None
    comparison: ComparisonMetrics | None = None
    failure: str | None = None
    failed_gates: list[str] = field(default_factory=list)


@dataclass
class BenchResult:
    """What a format sweep produced: the parent run, one outcome per format, and the recommended format."""

    run_id: str
    formats: dict[str, FormatOutcome]
    recommended: str | None

    def table(self) -> list[dict[str, Any]]:
        """One row per format (the printed table and ``tables/formats.csv``)."""
        return [_row(o) for o in self.formats.values()]


class FormatSweepRunner(MeasuringRunner):
    """Measure the original model and each deployment format alike; one parent run, a child run per format."""

    kind = "bench"
    config: BenchExperiment

    def run(self) -> BenchResult:
        """Produce, validate and time every format; log the parent and child runs; recommend a format."""
        return self._run("bench")

    def _datasets(self) -> dict[str, str]:
        """The train split calibrates the INT8 formats; the val split evaluates every format."""
        return {"train": "calibration", "val": "evaluation"}

    def _run_with(self, parent: ExperimentRecorder, weights: Path, data: PreparedData) -> BenchResult:
        cfg, bcfg = self.config, self.config.bench
        checked, _ = check_model(parent, cfg, weights, data)  # the .pt, loaded and run once: the torch format's model
        if weights.suffix != ".pt":
            raise ValueError(f"model: {weights} — a format sweep exports every format from the PyTorch weights (.pt)")
        formats = list(dict.fromkeys([ORIGINAL, *bcfg.formats]))
        outcomes = {f: FormatOutcome(f) for f in formats}
        loaded: dict[str, Any] = {ORIGINAL: checked}  # format -> its model, for validation and timing alike
        preload = import_in_background("yololab.report.plots")  # the parent's plot, while the exports run
        self._produce(outcomes, weights, data)
        preload.join()  # before anything is timed
        self._validate(outcomes, data, loaded)
        benches = self._benchmark(outcomes, data, loaded)
        loaded.clear()  # the models are not needed any more
        original = outcomes[ORIGINAL]
        for outcome in outcomes.values():
            if outcome.failure is None and outcome.format in benches:
                stats, reasons = model_stats_metrics(outcome.artifact, cfg.imgsz)
                benches[outcome.format].unavailable.update(reasons)
                outcome.system = benches[outcome.format].system.merged(stats)
        for outcome in outcomes.values():
            if outcome.failure is None and original.failure is None:
                outcome.comparison = ComparisonMetrics.from_sides(
                    original.detection,
                    original.system,
                    outcome.detection,
                    outcome.system,  # type: ignore[arg-type]
                )
                outcome.failed_gates = _gates(outcome, bcfg.gates.max_accuracy_drop, bcfg.gates.min_speedup)
        class_keys = class_key_map(data.class_names)
        for outcome in outcomes.values():
            self._child_run(parent, outcome, benches.get(outcome.format), class_keys, data)
        result = BenchResult(parent.run_id, outcomes, _recommend(outcomes))
        self._log_parent(parent, result)
        measured = [o.format for o in outcomes.values() if o.failure is None]
        describe_run(
            parent,
            f"{weights.name}: {len(measured)} of {len(outcomes)} formats measured here "
            f"({', '.join(measured)}); recommended: {result.recommended or 'none passed the gates'}",
        )
        return result

    # -- the steps ----------------------------------------------------------------------------------------------
    def _produce(self, outcomes: dict[str, FormatOutcome], weights: Path, data: PreparedData) -> None:
        """Export / quantize each format once; the FP32 ONNX export serves every ONNX format."""
        from yololab.adapters.quantization import export_onnx_fp32, export_openvino_fp32, quantize

        cfg = self.config
        out_dir = self.out_dir
        calibration = evenly_spaced(data.dataset.images("train"), cfg.bench.calibration_size)
        onnx_fp32: Path | None = None
        for name, outcome in outcomes.items():
            self._say(f"[bold]produce[/] {name}")
            try:
                if name == ORIGINAL:
                    outcome.artifact = weights
                elif name in ("onnx", "onnx-fp16", "onnx-int8-static", "onnx-int8-dynamic"):
                    onnx_fp32 = onnx_fp32 or export_onnx_fp32(weights, out_dir, imgsz=cfg.imgsz)
                    if name == "onnx":
                        outcome.artifact = onnx_fp32
                    else:
                        pair = quantize(onnx_fp32, name, out_dir, imgsz=cfg.imgsz, calibration_images=calibration)  # type: ignore[arg-type]
                        outcome.artifact = pair.quantized
                elif name == "openvino":
                    outcome.artifact = export_openvino_fp32(weights, out_dir, imgsz=cfg.imgsz)
                else:  # exported from the .pt by Ultralytics (openvino-int8, ultralytics-int8, tensorrt-*)
                    pair = quantize(
                        weights, name, out_dir, imgsz=cfg.imgsz, calibration_images=calibration,  # type: ignore[arg-type]
                        data_yaml=data.data_yaml, device=cfg.device, onnx_baseline=False,
                    )  # fmt: skip
                    outcome.artifact = pair.quantized
            except Exception as err:  # one format that cannot be produced here must not stop the sweep
                outcome.failure = f"cannot be produced here: {_reason(err)}"

    def _validate(self, outcomes: dict[str, FormatOutcome], data: PreparedData, loaded: dict[str, Any]) -> None:
        """Validate every format with the one validator; each model is loaded once, here, for the timed loop too."""
        cfg = self.config
        for name, outcome in _alive(outcomes).items():
            self._say(f"[bold]validate[/] {name}")
            try:
                loaded[name] = loaded.get(name) or load_model(outcome.artifact)  # type: ignore[arg-type]
                outcome.detection = validate_model(
                    outcome.artifact,
                    data.data_yaml,
                    imgsz=cfg.imgsz,
                    device=cfg.device,
                    model=loaded[name],  # type: ignore[arg-type]
                )
            except Exception as err:
                loaded.pop(name, None)
                outcome.failure = f"cannot be validated here: {_reason(err)}"

    def _benchmark(
        self, outcomes: dict[str, FormatOutcome], data: PreparedData, loaded: dict[str, Any]
    ) -> dict[str, BenchmarkResult]:
        """Time every format in alternating blocks; a format that fails to run is timed alone to name it."""
        cfg, icfg = self.config, self.config.infer
        alive = {name: o.artifact for name, o in _alive(outcomes).items()}
        if not alive:
            return {}
        self._say(f"[bold]benchmark[/] {len(alive)} formats, alternating, {icfg.iterations} timed iterations each")
        images = read_images(data.dataset.images("val"), limit=max(icfg.batch_size * 4, 32))
        kwargs = {"imgsz": cfg.imgsz, "device": cfg.device, "warmup": icfg.warmup, "iterations": icfg.iterations,
                  "batch_size": icfg.batch_size, "threads": icfg.threads}  # fmt: skip
        try:
            return benchmark_models(alive, images, preloaded=loaded, **kwargs)  # type: ignore[arg-type]
        except Exception:  # find the format that cannot run; the others are timed together again
            for name, artifact in alive.items():
                try:
                    benchmark_models({name: artifact}, images[:1], **{**kwargs, "iterations": 1, "warmup": 0})  # type: ignore[dict-item, arg-type]
                except Exception as err:
                    outcomes[name].failure = f"cannot run here: {_reason(err)}"
            alive = {name: o.artifact for name, o in _alive(outcomes).items()}
            return benchmark_models(alive, images, preloaded=loaded, **kwargs) if alive else {}  # type: ignore[arg-type]

    def _child_run(
        self, parent: ExperimentRecorder, outcome: FormatOutcome, bench: BenchmarkResult | None,
        class_keys: dict[str, str], data: PreparedData,
    ) -> None:  # fmt: skip
        cfg = self.config
        tags = {
            "mlflow.parentRunId": parent.run_id,
            "yololab.format": outcome.format,
            "yololab.precision": FORMAT_PRECISION[outcome.format],
            "yololab.device": cfg.device,
            **dict(cfg.tags),
        }
        child = ExperimentRecorder(
            experiment_name=cfg.experiment, experiment_type="bench", run_name=f"{parent.run_name}/{outcome.format}",
            tracking_uri=cfg.tracking.uri, journal_dir=cfg.tracking.journal_dir, tags=tags,
        )  # fmt: skip
        outcome.run_id = child.run_id
        log_datasets(child, data, self._datasets())
        if outcome.failure is not None:
            child.set_tags({"yololab.failure_reason": outcome.failure[:4000]})
            child.end("FAILED")
            return
        assert outcome.detection is not None and outcome.system is not None and bench is not None
        metrics = InferenceMetricsResult(detection=outcome.detection, system=outcome.system).to_mlflow_dict(class_keys)
        if outcome.comparison is not None:
            metrics |= outcome.comparison.to_mlflow_dict("comparison")
        child.log_metrics(metrics)
        child.set_tags({
            "yololab.threads": bench.details.get("threads", ""),
            "yololab.model_format": bench.details.get("format", ""),
            "yololab.gates": "failed" if outcome.failed_gates else "passed",
            **({"yololab.gates.failed": "; ".join(outcome.failed_gates)} if outcome.failed_gates else {}),
            **({"yololab.execution_provider": bench.details["execution_provider"]}
               if "execution_provider" in bench.details else {}),
            **unavailable_tags(bench.unavailable),
        })  # fmt: skip
        child.end("FINISHED")

    def _log_parent(self, parent: ExperimentRecorder, result: BenchResult) -> None:
        from yololab.report.plots import plot_formats

        rows = result.table()
        parent.log_text(rows_to_csv(rows), "tables/formats.csv")
        parent.log_dict(rows, "tables/formats.json")  # read by `yololab compare` for its report
        parent.log_figure(plot_formats(rows), "plots/formats.png")
        failed = [o.format for o in result.formats.values() if o.failure is not None]
        parent.set_tags({
            "yololab.bench.formats": ", ".join(result.formats),
            "yololab.bench.recommended": result.recommended or "none (no format passed the gates)",
            **({"yololab.bench.failed_formats": ", ".join(failed)} if failed else {}),
        })  # fmt: skip


def _alive(outcomes: dict[str, FormatOutcome]) -> dict[str, FormatOutcome]:
    return {name: o for name, o in outcomes.items() if o.failure is None}


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}"[:1000]


def _gates(outcome: FormatOutcome, max_drop: float | None, min_speedup: float | None) -> list[str]:
    if outcome.format == ORIGINAL or outcome.comparison is None:
        return []
    return outcome.comparison.missed_gates(gate_limits(max_accuracy_drop=max_drop, min_speedup=min_speedup))


def _recommend(outcomes: dict[str, FormatOutcome]) -> str | None:
    """The fastest format (lowest mean latency) among those measured that pass every gate."""
    passing = [
        o for o in outcomes.values()
        if o.failure is None and not o.failed_gates and o.system is not None and o.system.inference_time_ms
    ]  # fmt: skip
    return min(passing, key=lambda o: o.system.inference_time_ms).format if passing else None  # type: ignore[union-attr]


def _row(o: FormatOutcome) -> dict[str, Any]:
    det, sys_, cmp_ = o.detection, o.system, o.comparison
    return {
        "format": o.format,
        "precision": FORMAT_PRECISION[o.format],
        "model_size_mb": sys_.model_size_mb if sys_ else None,
        "mAP50": det.mAP50 if det else None,
        "mAP50_95": det.mAP50_95 if det else None,
        "accuracy_drop_mAP50": cmp_.accuracy_drop_mAP50 if cmp_ else None,
        "inference_time_ms": sys_.inference_time_ms if sys_ else None,
        "inference_time_p50_ms": sys_.inference_time_p50_ms if sys_ else None,
        "inference_time_p95_ms": sys_.inference_time_p95_ms if sys_ else None,
        "inference_time_p99_ms": sys_.inference_time_p99_ms if sys_ else None,
        "fps": sys_.fps if sys_ else None,
        "throughput": sys_.throughput if sys_ else None,
        "speedup_ratio": cmp_.speedup_ratio if cmp_ else None,
        "status": "failed" if o.failure else ("gates missed" if o.failed_gates else "ok"),
        "reason": o.failure or "; ".join(o.failed_gates),
    }


def print_table(result: BenchResult) -> None:
    """The sweep as a terminal table, best value of each column in bold green; then the recommendation."""
    from rich.console import Console
    from rich.table import Table

    columns = [
        ("format", "format", None), ("precision", "prec.", None), ("model_size_mb", "MB", "min"),
        ("mAP50", "mAP50", "max"), ("mAP50_95", "mAP50-95", "max"), ("accuracy_drop_mAP50", "drop", "min"),
        ("inference_time_ms", "mean ms", "min"), ("inference_time_p50_ms", "p50", "min"),
        ("inference_time_p95_ms", "p95", "min"), ("inference_time_p99_ms", "p99", "min"), ("fps", "FPS", "max"),
        ("throughput", "img/s (batch)", "max"), ("speedup_ratio", "speed-up", "max"), ("status", "status", None),
    ]  # fmt: skip
    rows = result.table()
    best = {}
    for key, _, direction in columns:
        values = [r[key] for r in rows if isinstance(r[key], float)]
        if direction and values:
            best[key] = min(values) if direction == "min" else max(values)
    table = Table(title="formats on this machine", title_justify="left", pad_edge=False)
    for _, header, direction in columns:
        table.add_column(header, justify="right" if direction else "left", no_wrap=True)
    for row in rows:
        table.add_row(*(_cell(row[key], best.get(key)) for key, _, _ in columns))
    out = console if console.is_terminal else Console(stderr=True, width=max(console.width, 170))
    out.print(table)
    for row in rows:
        if row["reason"]:
            out.print(f"  {row['format']}: {row['reason']}", highlight=False)
    if result.recommended:
        console.print(f"recommended on this machine: [bold]{result.recommended}[/] (fastest that passes the gates)")
    else:
        console.print("[red]no format passed the quality gates[/red]")


def _cell(value: Any, best: float | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        text = f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
        return f"[bold green]{text}[/]" if best is not None and value == best else text
    return str(value)


__all__ = ["BenchResult", "FormatOutcome", "FormatSweepRunner", "print_table"]

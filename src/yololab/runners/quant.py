"""QuantizationRunner: the original and a quantized model measured alike, in one process, alternating.

Both sides go through the same validator (:func:`~yololab.adapters.ultralytics_model.validate_model`) and the same
benchmark loop (:func:`~yololab.adapters.ultralytics_model.benchmark_models`, alternating blocks), so that
``comparison.speedup_ratio`` compares like with like. Calibration images come from the *train* split; the
scores come from the *val* split.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from yololab.adapters.mlflow_recorder import ExperimentRecorder
from yololab.adapters.ultralytics_model import benchmark_models, read_images, validate_model
from yololab.config import QuantExperiment
from yololab.metrics.keys import class_key_map
from yololab.metrics.results import ComparisonMetrics, QuantizationMetricsResult
from yololab.runners._common import (
    MeasuringRunner,
    PreparedData,
    check_model,
    describe_run,
    model_stats_metrics,
    unavailable_tags,
)


@dataclass
class QuantizationResult:
    """What a quantization experiment produced; ``failed_gates`` is empty when every quality gate passed."""

    run_id: str
    metrics: QuantizationMetricsResult
    quantized_model: Path
    failed_gates: list[str] = field(default_factory=list)

    @property
    def gates_passed(self) -> bool:
        """Whether every quality gate passed."""
        return not self.failed_gates


def evenly_spaced(items: list[Path], count: int) -> list[Path]:
    """``count`` items spread evenly over ``items`` (all of them when there are fewer), deterministic."""
    if count >= len(items):
        return list(items)
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def gate_limits(*, max_accuracy_drop: float | None, min_speedup: float | None) -> dict[str, tuple[str, float | None]]:
    """The quality gates as :meth:`~yololab.metrics.results.ComparisonMetrics.missed_gates` reads them."""
    return {
        "max_accuracy_drop": ("accuracy_drop_mAP50", max_accuracy_drop),
        "min_speedup": ("speedup_ratio", min_speedup),
    }


def check_gates(
    result: QuantizationMetricsResult, *, max_accuracy_drop: float | None, min_speedup: float | None
) -> list[str]:
    """Descriptions of the gates ``result`` misses (an unmeasured value misses its gate)."""
    limits = gate_limits(max_accuracy_drop=max_accuracy_drop, min_speedup=min_speedup)
    return (result.comparison or ComparisonMetrics()).missed_gates(limits)


class QuantizationRunner(MeasuringRunner):
    """Quantize a model by the configured method and compare it with the original; one MLflow run."""

    kind = "quant"
    config: QuantExperiment

    def run(self) -> QuantizationResult:
        """Quantize, validate and benchmark both sides, log, and check the quality gates."""
        from yololab.adapters.quantization import check_available

        check_available(self.config.quant.method, self.config.device)  # before any work
        return self._run(f"quant-{self.config.quant.method}")

    def _datasets(self) -> dict[str, str]:
        """The train split calibrates the quantized model; the val split evaluates both sides."""
        return {"train": "calibration", "val": "evaluation"}

    def _run_with(self, recorder: ExperimentRecorder, weights: Path, data: PreparedData) -> QuantizationResult:
        from yololab.adapters.quantization import quantize

        cfg, qcfg, icfg = self.config, self.config.quant, self.config.infer
        check_model(recorder, cfg, weights, data)
        dataset = data.dataset
        calibration = evenly_spaced(dataset.images("train"), qcfg.calibration_size)
        self._say(f"[bold]quantize[/] {weights.name} -> {qcfg.method} ({len(calibration)} calibration images, train)")
        out_dir = self.out_dir
        pair = quantize(
            weights, qcfg.method, out_dir, imgsz=cfg.imgsz, calibration_images=calibration,
            data_yaml=data.data_yaml, device=cfg.device,
        )  # fmt: skip
        sides = {"original": pair.original, "quantized": pair.quantized}
        self._say("[bold]validate[/] original and quantized (val split)")
        detection = {k: validate_model(w, data.data_yaml, imgsz=cfg.imgsz, device=cfg.device) for k, w in sides.items()}
        self._say(f"[bold]benchmark[/] alternating, {icfg.warmup} warm-up + {icfg.iterations} timed iterations each")
        images = read_images(dataset.images("val"), limit=max(icfg.batch_size * 4, 32))
        bench = benchmark_models(
            sides, images, imgsz=cfg.imgsz, device=cfg.device, warmup=icfg.warmup, iterations=icfg.iterations,
            batch_size=icfg.batch_size, threads=icfg.threads,
        )  # fmt: skip
        systems, reasons = {}, {}
        for side, w in sides.items():
            stats, why = model_stats_metrics(w, cfg.imgsz)
            systems[side] = bench[side].system.merged(stats)
            reasons.update({f"{side}.{k}": v for k, v in {**bench[side].unavailable, **why}.items()})
        result = QuantizationMetricsResult(
            detection["original"], systems["original"], detection["quantized"], systems["quantized"]
        )
        failed = check_gates(result, max_accuracy_drop=qcfg.gates.max_accuracy_drop, min_speedup=qcfg.gates.min_speedup)
        recorder.log_metrics(result.to_mlflow_dict(class_key_map(data.class_names)))
        c = result.comparison
        if c is not None:
            numbers = {"mAP50 drop": c.accuracy_drop_mAP50, "speed-up": c.speedup_ratio,
                       "compression": c.compression_ratio}  # fmt: skip
            shown = ", ".join(f"{k} {v:.3f}" for k, v in numbers.items() if v is not None)
            gates = "failed: " + "; ".join(failed) if failed else "passed"
            describe_run(recorder, f"{weights.name} -> {qcfg.method}: {shown}; gates {gates}")
        recorder.set_tags(self._tags(pair.method, pair.details, failed, reasons, bench["original"].details))
        self._log_artifacts(recorder, result, pair.quantized, {k: v.samples_ms["end_to_end"] for k, v in bench.items()})
        return QuantizationResult(recorder.run_id, result, pair.quantized, failed)

    def _tags(
        self, method: str, details: dict[str, str], failed: list[str], reasons: dict[str, str], bench: dict[str, str]
    ) -> dict[str, str]:
        tags = {
            "yololab.quant.method": method,
            "yololab.device": self.config.device,
            "yololab.threads": bench.get("threads", ""),
            "yololab.gates": "failed" if failed else "passed",
            **{f"yololab.quant.{k}": str(v)[:4000] for k, v in details.items()},
        }
        if "execution_provider" in bench:
            tags["yololab.execution_provider"] = bench["execution_provider"]
        if failed:
            tags["yololab.gates.failed"] = "; ".join(failed)
        return {**tags, **unavailable_tags(reasons)}

    def _log_artifacts(
        self, recorder: ExperimentRecorder, result: QuantizationMetricsResult, quantized: Path,
        samples: dict[str, list[float]],
    ) -> None:  # fmt: skip
        from yololab.report.plots import plot_latency, plot_per_class_ap, plot_quantization

        recorder.log_artifact(quantized, "model")
        recorder.log_figure(plot_quantization(result.to_mlflow_dict()), "plots/comparison.png")
        recorder.log_figure(plot_latency(samples), "plots/latency.png")
        recorder.log_dict(samples, "latency/samples_ms.json")
        if result.original_detection.per_class_ap:
            per_class = {
                "original": result.original_detection.per_class_ap,
                "quantized": result.quantized_detection.per_class_ap,
            }
            recorder.log_figure(plot_per_class_ap(per_class), "plots/per_class_ap.png")

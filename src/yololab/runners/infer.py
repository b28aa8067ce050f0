"""InferenceBenchmarkRunner: validation, a timed benchmark loop and tracking, one MLflow run.

Validation gives ``det.*``, the benchmark loop ``sys.*`` and, when enabled, multi-object tracking evaluated by
yololab's MOT engine ``mot.*`` — one ``InferenceMetricsResult`` per run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from yololab.adapters.mlflow_recorder import ExperimentRecorder
from yololab.adapters.ultralytics_model import benchmark_models, read_images, validate_model_table
from yololab.classmap import ClassMapError
from yololab.config import InferExperiment
from yololab.metrics.keys import class_key_map
from yololab.metrics.latency import latency_stats
from yololab.metrics.mot import MOTEvaluation, to_mot_metrics
from yololab.metrics.per_class import PerClassTable
from yololab.metrics.results import InferenceMetricsResult
from yololab.metrics.system import with_tracker_time
from yololab.runners._common import (
    MeasuringRunner,
    PreparedData,
    check_model,
    console,
    describe_run,
    log_per_class,
    model_stats_metrics,
    step_progress,
    unavailable_tags,
)
from yololab.runners.tracking import TrackingOutcome, TrackingPlan, plan_tracking, run_tracking
from yololab.tables import rows_to_csv


@dataclass
class InferenceResult:
    """What an inference benchmark produced."""

    run_id: str
    metrics: InferenceMetricsResult
    mot_evaluation: MOTEvaluation | None
    per_class: PerClassTable | None = None
    """The validator's per-class table (``yolo val``'s, ``all`` first), also ``tables/per_class.csv``."""


class InferenceBenchmarkRunner(MeasuringRunner):
    """Validate, benchmark and (optionally) track with one model; record one MLflow run."""

    kind = "infer"
    config: InferExperiment

    def run(self) -> InferenceResult:
        """Check the model against the data, run every step and log the result.

        The run ends FAILED if a step raises (tag ``yololab.failure_reason``).
        """
        return self._run("infer")

    def _run_with(self, recorder: ExperimentRecorder, weights: Path, data: PreparedData) -> InferenceResult:
        cfg, icfg = self.config, self.config.infer
        _, info = check_model(recorder, cfg, weights, data)
        plan, untracked = self._plan_tracking(data, info.names or data.class_names)  # refused before measuring
        class_keys = class_key_map(data.class_names)
        self._say(f"[bold]validate[/] {weights.name} on {data.data_yaml}")
        detection, per_class = validate_model_table(
            weights, data.data_yaml, imgsz=cfg.imgsz, device=cfg.device, half=icfg.half
        )
        log_per_class(recorder, per_class)
        self._say(f"[bold]benchmark[/] {icfg.warmup} warm-up + {icfg.iterations} timed iterations")
        images = read_images(data.dataset.images("val"), limit=max(icfg.batch_size * 4, 32))
        bench = benchmark_models(
            {"model": weights}, images, imgsz=cfg.imgsz, device=cfg.device, warmup=icfg.warmup,
            iterations=icfg.iterations, batch_size=icfg.batch_size, threads=icfg.threads, half=icfg.half,
        )["model"]  # fmt: skip
        stats, stats_reasons = model_stats_metrics(weights, cfg.imgsz)
        system = bench.system.merged(stats)
        reasons = {**bench.unavailable, **stats_reasons, **({"mot": untracked} if untracked else {})}
        mot, evaluation = None, None
        if plan is not None:
            outcome = self._track(recorder, weights, data, plan)
            evaluation = outcome.evaluation
            reasons.update(outcome.unavailable)
            mot = to_mot_metrics(evaluation) if evaluation is not None else None
            tracker_ms = latency_stats(outcome.tracker_ms).mean_ms if outcome.tracker_ms else None
            system = with_tracker_time(system, tracker_ms)
        result = InferenceMetricsResult(detection=detection, mot=mot, system=system)
        recorder.log_metrics(result.to_mlflow_dict(class_keys))
        describe_run(recorder, _headline(weights, data, result))
        recorder.set_tags(self._tags(weights, bench.details, reasons))
        self._log_artifacts(recorder, result, bench.samples_ms, evaluation, class_keys)
        return InferenceResult(recorder.run_id, result, evaluation, per_class)

    def _datasets(self) -> dict[str, str]:
        """The val split evaluates the model; the tracking sequences, when tracking is on, are tracked."""
        return {"val": "evaluation", **({"mot": "tracking"} if self.config.infer.tracking.enabled else {})}

    def _plan_tracking(self, data: PreparedData, model_names: list[str]) -> tuple[TrackingPlan | None, str | None]:
        """The tracking plan, or None and why not (a class mismatch the user allowed leaves tracking out)."""
        tcfg = self.config.infer.tracking
        if not tcfg.enabled or data.mot_dir is None:
            return None, None
        try:
            return plan_tracking(data.mot_dir, tcfg, model_names=model_names, data_names=data.class_names), None
        except ClassMapError as err:
            if not self.config.allow_class_mismatch:
                raise
            return None, f"not tracked (allow_class_mismatch): {err}"

    def _track(
        self, recorder: ExperimentRecorder, weights: Path, data: PreparedData, plan: TrackingPlan
    ) -> TrackingOutcome:
        from yololab.adapters.ultralytics_model import load_model

        cfg, tcfg = self.config, self.config.infer.tracking
        mot_dir = plan.mot_dir
        self._say(f"[bold]track[/] {tcfg.tracker} over {mot_dir} ({plan.benchmark}; {plan.classes.description})")
        for warning in plan.warnings:
            console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
        out_dir = self.out_dir / "mot_results"
        with step_progress("tracking", plan.total_frames, quiet=self.quiet) as advance:
            outcome = run_tracking(
                load_model(weights), plan, tcfg, imgsz=cfg.imgsz, device=cfg.device, out_dir=out_dir,
                on_frame=advance,
            )  # fmt: skip
        recorder.log_artifact(out_dir)  # -> mot_results/<seq>.txt
        recorder.set_tags(outcome.tags)
        return outcome

    def _tags(self, weights: Path, details: dict[str, str], reasons: dict[str, str]) -> dict[str, str]:
        icfg = self.config.infer
        tags = {
            "yololab.device": self.config.device,
            "yololab.precision": _precision(weights, icfg.half),
            "yololab.threads": details.get("threads", str(icfg.threads)),
            "yololab.model_format": details.get("format", weights.suffix),
            "yololab.latency_percentiles": "numpy.percentile, linear interpolation, warm-up excluded",
        }
        if "execution_provider" in details:
            tags["yololab.execution_provider"] = details["execution_provider"]
        return {**tags, **unavailable_tags(reasons)}

    def _log_artifacts(
        self, recorder: ExperimentRecorder, result: InferenceMetricsResult, samples: dict[str, list[float]],
        evaluation: MOTEvaluation | None, class_keys: dict[str, str],
    ) -> None:  # fmt: skip
        from yololab.report.plots import plot_latency, plot_per_class_ap

        recorder.log_dict(class_keys, "class_keys.json")
        recorder.log_dict(samples, "latency/samples_ms.json")
        recorder.log_figure(plot_latency({"end to end": samples.get("end_to_end", [])}), "plots/latency.png")
        det = result.detection
        if det.per_class_ap:
            recorder.log_figure(plot_per_class_ap({"model": det.per_class_ap}), "plots/per_class_ap.png")
            rows = [
                {"class": c, "ap50_95": det.per_class_ap[c], "ap50": det.per_class_ap50.get(c)}
                for c in det.per_class_ap
            ]
            recorder.log_text(rows_to_csv(rows), "tables/per_class_ap.csv")
        if evaluation is not None:
            table = evaluation.to_dict()
            recorder.log_text(json.dumps(table, indent=1, default=float), "tables/mot_metrics.json")
            rows = [{"sequence": name, **values} for name, values in table["sequences"].items()]
            rows.append({"sequence": "COMBINED", **table["combined"]})
            recorder.log_text(rows_to_csv(rows), "tables/mot_per_sequence.csv")


def _precision(weights: Path, half: bool) -> str:
    name = weights.name.lower()
    if "int8" in name:
        return "int8"
    if half or "fp16" in name:
        return "fp16"
    return "fp32"


def _headline(weights: Path, data: PreparedData, result: InferenceMetricsResult) -> str:
    """The run description: what was measured on what, and the headline numbers."""
    det, sys_, mot = result.detection, result.system, result.mot
    parts = [f"mAP50 {det.mAP50:.3f}" if det.mAP50 is not None else "", f"mAP50-95 {det.mAP50_95:.3f}"
             if det.mAP50_95 is not None else ""]  # fmt: skip
    if sys_.fps is not None and sys_.inference_time_p95_ms is not None:
        parts.append(f"{sys_.fps:.1f} FPS (p95 {sys_.inference_time_p95_ms:.1f} ms)")
    if mot is not None and mot.hota is not None:
        parts.append(f"HOTA {mot.hota:.3f}, MOTA {mot.mota:.3f}, IDF1 {mot.idf1:.3f}")
    return f"{weights.name} on {data.data_yaml}: " + ", ".join(p for p in parts if p)

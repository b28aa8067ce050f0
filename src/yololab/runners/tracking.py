"""Tracking in an inference experiment: protocol and classes decided, sequences tracked, files written, scored.

The tracker's files are scored by the MOT engine the way ``yololab eval-mot`` scores them.

1. The protocol: ``infer.tracking.benchmark`` (``auto`` decides from the sequence names, as ``eval-mot``).
2. The classes (:func:`yololab.classmap.resolve_tracking_classes`): under MOTChallenge only the model's pedestrian
   class is tracked and written as class 1; on other data model classes are matched to the ground truth by name.
3. Each sequence (MOTChallenge folder, frame folder or video) is tracked; ``<out_dir>/<seq>.txt`` is written in
   MOTChallenge format with the ground-truth class in the class column.
4. The sequences with ground truth are evaluated from the written files (``load_benchmark`` + ``evaluate_mot``),
   so that ``mot.*`` equals what TrackEval computes on those files. Sequences without ground truth are tracked
   and timed only.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from yololab.adapters.ultralytics_tracking import (
    count_video_frames,
    iter_frames,
    track_sequence,
    tracker_yaml,
)
from yololab.classmap import TrackingClasses, resolve_tracking_classes
from yololab.config import MotTrackingConfig
from yololab.data.sequences import TrackingSource, discover_sequences
from yololab.metrics.mot import MOTEvaluation, evaluate_mot
from yololab.metrics.mot.motchallenge import load_benchmark, read_class_list, resolve_benchmark, write_mot_file


@dataclass
class TrackingOutcome:
    """What tracking produced.

    Attributes:
        evaluation: the MOT engine's result on the written files; None when no sequence has ground truth.
        tracker_ms: the tracker's update time per frame (ms), all sequences.
        frames: frames tracked.
        benchmark: the protocol in effect (``MOT17``, ``none`` ...).
        tags: run tags: protocol, classes, sequences not scored and why, warnings.
        unavailable: ``mot`` -> why it is absent, when it is.
    """

    evaluation: MOTEvaluation | None
    tracker_ms: list[float]
    frames: int
    benchmark: str
    tags: dict[str, str] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TrackingPlan:
    """The sequences to track, the protocol and the classes, decided before any frame is read."""

    mot_dir: Path
    sources: list[TrackingSource]
    benchmark: str
    classes: TrackingClasses
    warnings: list[str]

    @property
    def total_frames(self) -> int:
        """Frames to track (as far as the videos' containers tell)."""
        return sum(count_video_frames(s.video) if s.video is not None else len(s.frames or ()) for s in self.sources)


def plan_tracking(
    mot_dir: Path, tcfg: MotTrackingConfig, *, model_names: list[str], data_names: list[str]
) -> TrackingPlan:
    """Find the sequences and decide protocol and classes.

    Raises:
        FileNotFoundError: no sequences, or a tracker YAML that does not exist.
        yololab.classmap.ClassMapError: the model's classes cannot be paired with the data's.
    """
    tracker_yaml(tcfg.tracker)  # a missing tracker YAML fails before any frame
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sources = discover_sequences(mot_dir)
    benchmark = resolve_benchmark(tcfg.benchmark, [s.name for s in sources])
    gt_names = read_class_list(mot_dir) if benchmark == "none" else None
    classes = resolve_tracking_classes(
        model_names, benchmark=benchmark, requested=tcfg.classes, class_map=tcfg.class_map, gt_names=gt_names,
        data_names=data_names,
    )  # fmt: skip
    return TrackingPlan(Path(mot_dir), sources, benchmark, classes, [str(w.message) for w in caught])


def run_tracking(
    model: Any,
    plan: TrackingPlan,
    tcfg: MotTrackingConfig,
    *,
    imgsz: int,
    device: str,
    out_dir: Path,
    on_frame: Callable[[], None] | None = None,
) -> TrackingOutcome:
    """Track every sequence of ``plan``, write ``<out_dir>/<seq>.txt``, and evaluate the sequences with ground truth."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tracker, timings, frames = tracker_yaml(tcfg.tracker), [], 0
    for source in plan.sources:
        tracked = track_sequence(
            model, iter_frames(source.frames, source.video), tracker=tracker, classes=plan.classes.model_ids,
            imgsz=imgsz, device=device, conf=tcfg.conf, on_frame=on_frame,
        )  # fmt: skip
        write_mot_file(out_dir / f"{source.name}.txt", _with_gt_classes(tracked.rows, plan.classes))
        timings += tracked.tracker_ms
        frames += tracked.frames
    outcome = TrackingOutcome(None, timings, frames, plan.benchmark, _plan_tags(plan, tcfg))
    outcome.tags["yololab.mot.frames_tracked"] = str(frames)
    scored = [s.name for s in plan.sources if s.has_ground_truth]
    unscored = [s.name for s in plan.sources if not s.has_ground_truth]
    if unscored:
        outcome.tags["yololab.mot.unscored_sequences"] = ", ".join(unscored)[:4000]
    if not scored:
        outcome.unavailable["mot"] = (
            f"no sequence in {plan.mot_dir} has ground truth (<seq>/gt/gt.txt): tracked, not scored"
        )
        return outcome
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcome.evaluation = evaluate_written(out_dir, scored, plan)
    if caught:
        found = [*plan.warnings, *(str(w.message) for w in caught)]
        outcome.tags["yololab.mot.warnings"] = " | ".join(found)[:4000]
    return outcome


def evaluate_written(out_dir: Path, names: list[str], plan: TrackingPlan) -> MOTEvaluation:
    """The MOT engine on the tracker files as written, read back as ``yololab eval-mot`` reads them."""
    folder = load_benchmark(plan.mot_dir, out_dir, names=names)
    classes = None if plan.benchmark != "none" else plan.classes.evaluated_gt_ids
    return evaluate_mot(folder.sequences, benchmark=plan.benchmark, classes=classes, origins=folder.origins)


def _with_gt_classes(rows: np.ndarray, classes: TrackingClasses) -> np.ndarray:
    """Replace the model class column by the ground-truth class each model class is written as."""
    out = rows.copy()
    if len(out):
        lookup = np.vectorize(lambda c: classes.gt_ids[int(c)], otypes=[float])
        out[:, 7] = lookup(out[:, 7])
    return out


def _plan_tags(plan: TrackingPlan, tcfg: MotTrackingConfig) -> dict[str, str]:
    tags = {
        "yololab.tracker": tcfg.tracker,
        "yololab.mot.benchmark": plan.benchmark,
        "yololab.mot.benchmark_source": "auto (sequence names)" if tcfg.benchmark == "auto" else "infer.tracking",
        "yololab.mot.classes": plan.classes.description,
    }
    if plan.warnings:
        tags["yololab.mot.warnings"] = " | ".join(plan.warnings)[:4000]
    return tags

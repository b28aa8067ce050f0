"""Run an Ultralytics tracker over MOTChallenge-layout sequences and evaluate it with yololab's MOT engine.

Each sequence is tracked frame by frame with ``persist=True`` (the tracker keeps state across calls); the tracker
is reset between sequences. The tracker's own update time is measured by wrapping its ``update`` method (it is
not part of Ultralytics' ``Results.speed``). Predictions are written in MOTChallenge format
(``frame, id, x, y, w, h, conf, class, -1, -1``; ``class`` = YOLO class index + 1, as the synthetic ground truth).
"""

from __future__ import annotations

import configparser
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from yololab.metrics.mot import MOTEvaluation, evaluate_mot, sequence_from_rows

TRACKERS = ("bytetrack", "botsort")


@dataclass
class TrackingRun:
    """Tracker output and timing over a benchmark folder."""

    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    ground_truth: dict[str, np.ndarray] = field(default_factory=dict)
    num_frames: dict[str, int] = field(default_factory=dict)
    tracker_ms: list[float] = field(default_factory=list)
    frames_tracked: int = 0


def tracker_yaml(tracker: str) -> str:
    """``bytetrack``/``botsort`` -> Ultralytics' bundled YAML; any other value must be a path to a tracker YAML."""
    if tracker in TRACKERS:
        return f"{tracker}.yaml"
    path = Path(tracker)
    if not path.is_file():
        raise FileNotFoundError(f"tracker config {tracker!r}: expected 'bytetrack', 'botsort' or a tracker YAML file")
    return str(path.resolve())


def list_sequences(mot_dir: Path) -> list[Path]:
    """Sequence folders (those holding ``img1/``) of a MOTChallenge-layout folder, sorted by name."""
    seqs = sorted(p for p in Path(mot_dir).iterdir() if (p / "img1").is_dir())
    if not seqs:
        raise FileNotFoundError(f"{mot_dir}: no sequence folders with an img1/ subfolder (MOTChallenge layout)")
    return seqs


def _seq_length(seq_dir: Path, frames: list[Path]) -> int:
    ini = seq_dir / "seqinfo.ini"
    if ini.exists():
        parser = configparser.ConfigParser()
        parser.read(ini)
        return int(parser["Sequence"]["seqLength"])
    return len(frames)


def track_sequences(
    model: Any,
    mot_dir: Path,
    *,
    tracker: str = "bytetrack",
    imgsz: int,
    device: str = "cpu",
    conf: float | None = None,
    out_dir: Path | None = None,
    on_frame: Callable[[], None] | None = None,
) -> TrackingRun:
    """Track every sequence of ``mot_dir``; write ``<out_dir>/<seq>.txt`` in MOTChallenge format when given."""
    run = TrackingRun()
    tracker_cfg = tracker_yaml(tracker)  # resolved once: a missing tracker YAML fails before any frame
    for seq_dir in list_sequences(mot_dir):
        frames = sorted((seq_dir / "img1").iterdir())
        rows = _track_one(
            model, frames, tracker=tracker_cfg, imgsz=imgsz, device=device, conf=conf, run=run, on_frame=on_frame
        )
        run.predictions[seq_dir.name] = rows
        run.num_frames[seq_dir.name] = _seq_length(seq_dir, frames)
        gt_file = seq_dir / "gt" / "gt.txt"
        if gt_file.exists() and gt_file.stat().st_size:
            run.ground_truth[seq_dir.name] = np.loadtxt(gt_file, delimiter=",", ndmin=2)
        else:
            run.ground_truth[seq_dir.name] = np.zeros((0, 9))
        if out_dir is not None:
            write_mot_file(Path(out_dir) / f"{seq_dir.name}.txt", rows)
    return run


def _track_one(
    model: Any, frames: list[Path], *, tracker: str, imgsz: int, device: str, conf: float | None, run: TrackingRun,
    on_frame: Callable[[], None] | None,
) -> np.ndarray:  # fmt: skip
    import cv2

    rows: list[np.ndarray] = []
    wrapped: set[int] = set()
    for frame_no, path in enumerate(frames, start=1):
        image = cv2.imread(str(path))
        results = model.track(
            image, persist=True, tracker=tracker, imgsz=imgsz, device=device, conf=conf, verbose=False
        )
        if frame_no == 1:  # trackers exist after the first call: reset for this sequence, time their updates
            for trk in model.predictor.trackers:
                if id(trk) not in wrapped:
                    _time_updates(trk, run.tracker_ms)
                    wrapped.add(id(trk))
        rows.append(_result_rows(results[0], frame_no))
        run.frames_tracked += 1
        if on_frame is not None:
            on_frame()
    for trk in model.predictor.trackers:  # the next sequence starts from scratch
        trk.reset()
    return np.concatenate(rows) if rows else np.zeros((0, 10))


def _time_updates(trk: Any, sink: list[float]) -> None:
    if getattr(trk, "_yololab_timed", False):
        return
    original = trk.update

    def timed_update(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter_ns()
        try:
            return original(*args, **kwargs)
        finally:
            sink.append((time.perf_counter_ns() - start) / 1e6)

    trk.update = timed_update
    trk._yololab_timed = True


def _result_rows(result: Any, frame_no: int) -> np.ndarray:
    boxes = result.boxes
    if boxes is None or boxes.id is None or len(boxes) == 0:
        return np.zeros((0, 10))
    xywh = boxes.xywh.cpu().numpy().astype(float)
    n = len(xywh)
    out = np.empty((n, 10))
    out[:, 0] = frame_no
    out[:, 1] = boxes.id.cpu().numpy()
    out[:, 2] = xywh[:, 0] - xywh[:, 2] / 2
    out[:, 3] = xywh[:, 1] - xywh[:, 3] / 2
    out[:, 4:6] = xywh[:, 2:4]
    out[:, 6] = boxes.conf.cpu().numpy()
    out[:, 7] = boxes.cls.cpu().numpy() + 1
    out[:, 8:] = -1
    return out


def write_mot_file(path: Path, rows: np.ndarray) -> None:
    """MOTChallenge result file: ``frame,id,x,y,w,h,conf,class,-1,-1`` per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = ["%d", "%d", "%.2f", "%.2f", "%.2f", "%.2f", "%.4f", "%d", "%d", "%d"]
    np.savetxt(path, rows.reshape(-1, 10), fmt=fmt, delimiter=",")


def evaluate_tracking(run: TrackingRun) -> MOTEvaluation:
    """yololab's MOT engine on the tracker output, per class, no MOTChallenge preprocessing.

    The classes evaluated are those present in the ground truth or the predictions: a class of the dataset that
    appears in neither would otherwise count as a zero in TrackEval's class average.
    """
    sequences = [
        sequence_from_rows(name, run.ground_truth[name], run.predictions[name][:, :9], run.num_frames[name])
        for name in run.predictions
    ]
    return evaluate_mot(sequences, benchmark="none")

"""Driving Ultralytics' trackers (ByteTrack, BoT-SORT) over a sequence of frames, and reading frames.

Each sequence is tracked frame by frame with ``persist=True`` (the tracker keeps state across calls); the tracker
is reset after each sequence. Only the requested model classes reach the tracker (Ultralytics' ``classes=`` filters
before association), so its identities are those of the classes evaluated. The tracker's own update time is measured
by wrapping its ``update`` method (it is not part of Ultralytics' ``Results.speed``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from yololab.config.schema import TRACKERS

__all__ = ["TRACKERS", "TrackedSequence", "count_video_frames", "iter_frames", "track_sequence", "tracker_yaml"]


def tracker_yaml(tracker: str) -> str:
    """``bytetrack``/``botsort`` -> Ultralytics' bundled YAML; any other value must be a path to a tracker YAML."""
    if tracker in TRACKERS:
        return f"{tracker}.yaml"
    path = Path(tracker)
    if not path.is_file():
        raise FileNotFoundError(f"tracker config {tracker!r}: expected 'bytetrack', 'botsort' or a tracker YAML file")
    return str(path.resolve())


@dataclass
class TrackedSequence:
    """The tracker's output on one sequence.

    Attributes:
        rows: ``(N, 8)``: ``frame, id, x, y, w, h, conf, model class`` (pixels, top-left corner, 1-based frames).
        frames: frames tracked.
        tracker_ms: the tracker's update time per call, in milliseconds.
    """

    rows: np.ndarray
    frames: int = 0
    tracker_ms: list[float] = field(default_factory=list)


def iter_frames(frames: Iterable[Path] | None = None, video: Path | None = None) -> Iterator[np.ndarray]:
    """BGR frames from image files (in the given order) or from a video file (OpenCV decodes it).

    Raises:
        ValueError: an image or the video cannot be read.
    """
    import cv2

    if video is not None:
        capture = cv2.VideoCapture(str(video))
        if not capture.isOpened():
            raise ValueError(f"{video}: OpenCV cannot open this video")
        try:
            while True:
                ok, image = capture.read()
                if not ok:
                    return
                yield image
        finally:
            capture.release()
    for path in frames or ():
        image = cv2.imread(str(path))
        if image is None:
            raise ValueError(f"{path}: not a readable image")
        yield image


def count_video_frames(video: Path) -> int:
    """Frames a video holds, as its container reports it (0 when it does not say)."""
    import cv2

    capture = cv2.VideoCapture(str(video))
    try:
        return max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))
    finally:
        capture.release()


def track_sequence(
    model: Any,
    images: Iterable[np.ndarray],
    *,
    tracker: str,
    classes: list[int] | None,
    imgsz: int,
    device: str = "cpu",
    conf: float | None = None,
    on_frame: Callable[[], None] | None = None,
) -> TrackedSequence:
    """Track one sequence; the model's trackers are reset afterwards, ready for the next sequence.

    Args:
        model: an Ultralytics ``YOLO`` (used for tracking only: ``model.track`` installs its own predictor).
        images: BGR frames in order (frame 1 first).
        tracker: a tracker YAML (see :func:`tracker_yaml`).
        classes: model class indices to keep before tracking; None keeps all.
        imgsz: inference size in pixels.
        device: ``cpu``, ``0``, ``cuda:0`` ...
        conf: detection confidence threshold.
        on_frame: called after each frame (progress).
    """
    rows: list[np.ndarray] = []
    timings: list[float] = []
    frame_no = 0
    for frame_no, image in enumerate(images, start=1):
        results = model.track(
            image, persist=True, tracker=tracker, imgsz=imgsz, device=device, conf=conf, classes=classes,
            verbose=False,
        )  # fmt: skip
        if frame_no == 1:  # the trackers exist after the first call: time their updates for this sequence
            for trk in model.predictor.trackers:
                _time_updates(trk, timings)
        rows.append(_result_rows(results[0], frame_no))
        if on_frame is not None:
            on_frame()
    for trk in getattr(model.predictor, "trackers", None) or []:  # the next sequence starts from scratch
        trk.reset()
    return TrackedSequence(np.concatenate(rows) if rows else np.zeros((0, 8)), frame_no, timings)


def _time_updates(trk: Any, sink: list[float]) -> None:
    """Wrap ``trk.update`` to append its duration (ms) to ``sink``; re-wrapping replaces the previous sink."""
    original = getattr(trk, "_yololab_update", None) or trk.update
    trk._yololab_update = original

    def timed_update(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter_ns()
        try:
            return original(*args, **kwargs)
        finally:
            sink.append((time.perf_counter_ns() - start) / 1e6)

    trk.update = timed_update


def _result_rows(result: Any, frame_no: int) -> np.ndarray:
    boxes = result.boxes
    if boxes is None or boxes.id is None or len(boxes) == 0:
        return np.zeros((0, 8))
    xywh = boxes.xywh.cpu().numpy().astype(float)
    out = np.empty((len(xywh), 8))
    out[:, 0] = frame_no
    out[:, 1] = boxes.id.cpu().numpy()
    out[:, 2] = xywh[:, 0] - xywh[:, 2] / 2
    out[:, 3] = xywh[:, 1] - xywh[:, 3] / 2
    out[:, 4:6] = xywh[:, 2:4]
    out[:, 6] = boxes.conf.cpu().numpy()
    out[:, 7] = boxes.cls.cpu().numpy()
    return out

"""The data contract of the MOT engine: detections in, metric-ready sequences out.

Two layers, as in TrackEval (``datasets/`` turn files into one data dict per sequence and class, ``metrics/`` see
ids and similarities only):

* :class:`Frames` - the detections of one sequence as parallel, flat arrays (one row per box), the way files and
  trackers produce them. :class:`MOTSequence` pairs ground truth and predictions with the sequence length.
* :class:`PreparedSequence` - one sequence and one class after filtering: ids relabelled to ``0..n-1``, and every
  ground-truth/prediction pair of a frame that overlaps (IoU > 0), in TrackEval's row-major frame order. The metric
  functions (:func:`~yololab.metrics.mot.clear.compute_clear`, ...) take only this.

Frames are 1-based in :class:`Frames` (as in MOTChallenge files) and 0-based in :class:`PreparedSequence`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Frames", "MOTDataError", "MOTSequence", "PreparedSequence"]


class MOTDataError(ValueError):
    """Invalid MOT input; the message names the file and line (or the array row) and what was expected."""


def _column(values: np.ndarray | None, n: int, name: str, dtype: type) -> np.ndarray | None:
    if values is None:
        return None
    arr = np.asarray(values, dtype=dtype)
    if arr.shape != (n,):
        raise MOTDataError(f"Frames.{name}: expected shape ({n},), got {arr.shape}")
    return arr


@dataclass(frozen=True, slots=True)
class Frames:
    """The boxes of one sequence, one row per box, as parallel arrays (absent columns are ``None``).

    Attributes:
        frame: ``(N,)`` int64, 1-based frame number of each box.
        ids: ``(N,)`` int64, track id (ground-truth identity or tracker id), ``>= 0``.
        boxes_xywh: ``(N, 4)`` float64, left, top, width, height in pixels.
        confidence: ``(N,)`` float64 or None. Predictions: the score. Ground truth: MOTChallenge's "consider"
            flag - a box with ``int(confidence) == 0`` is zero-marked and not evaluated (as TrackEval).
        classes: ``(N,)`` int64 or None, class id of each box.
        visibility: ``(N,)`` float64 or None, visible fraction (ground truth only; kept, not used by the metrics).
    """

    frame: np.ndarray
    ids: np.ndarray
    boxes_xywh: np.ndarray
    confidence: np.ndarray | None = None
    classes: np.ndarray | None = None
    visibility: np.ndarray | None = None

    def __post_init__(self) -> None:
        frame = np.asarray(self.frame, dtype=np.int64).reshape(-1)
        n = frame.shape[0]
        boxes = np.asarray(self.boxes_xywh, dtype=np.float64).reshape(-1, 4) if n else np.zeros((0, 4))
        if boxes.shape != (n, 4):
            raise MOTDataError(f"Frames.boxes_xywh: expected shape ({n}, 4), got {boxes.shape}")
        object.__setattr__(self, "frame", frame)
        object.__setattr__(self, "ids", _column(self.ids, n, "ids", np.int64))
        object.__setattr__(self, "boxes_xywh", boxes)
        object.__setattr__(self, "confidence", _column(self.confidence, n, "confidence", np.float64))
        object.__setattr__(self, "classes", _column(self.classes, n, "classes", np.int64))
        object.__setattr__(self, "visibility", _column(self.visibility, n, "visibility", np.float64))

    def __len__(self) -> int:
        return int(self.frame.shape[0])

    @classmethod
    def empty(cls) -> Frames:
        """No boxes at all (e.g. a tracker that output nothing)."""
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4)))

    @classmethod
    def from_rows(cls, rows: np.ndarray) -> Frames:
        """Build from MOTChallenge-style rows ``frame, id, x, y, w, h[, conf[, class[, visibility]]]``.

        Args:
            rows: ``(N, 6..9)`` array-like; columns past the 9th are ignored.

        Returns:
            The frames; absent columns are ``None``.

        Example:
            >>> f = Frames.from_rows([[1, 7, 10.0, 20.0, 30.0, 40.0, 1, 1]])
            >>> int(f.ids[0]), f.boxes_xywh.tolist(), int(f.classes[0])
            (7, [[10.0, 20.0, 30.0, 40.0]], 1)
        """
        arr = np.asarray(rows, dtype=np.float64)
        if arr.size == 0:
            return cls.empty()
        if arr.ndim != 2 or arr.shape[1] < 6:
            raise MOTDataError(f"Frames.from_rows: expected an (N, 6..9) array, got shape {arr.shape}")
        ncol = arr.shape[1]
        return cls(
            frame=arr[:, 0].astype(np.int64),
            ids=arr[:, 1].astype(np.int64),
            boxes_xywh=arr[:, 2:6],
            confidence=arr[:, 6] if ncol > 6 else None,
            classes=arr[:, 7].astype(np.int64) if ncol > 7 else None,
            visibility=arr[:, 8] if ncol > 8 else None,
        )

    def select(self, mask: np.ndarray) -> Frames:
        """The rows where ``mask`` is true (a boolean ``(N,)`` array or an index array)."""
        mask = np.asarray(mask)
        rows = np.flatnonzero(mask) if mask.dtype == bool else mask

        def take(column: np.ndarray | None) -> np.ndarray | None:
            # np.take: numpy's fancy and boolean indexing of rows is several times slower (a (N, 4) array: 8x)
            return None if column is None else np.take(column, rows, axis=0)

        return Frames(
            frame=take(self.frame),  # type: ignore[arg-type]
            ids=take(self.ids),  # type: ignore[arg-type]
            boxes_xywh=take(self.boxes_xywh),  # type: ignore[arg-type]
            confidence=take(self.confidence),
            classes=take(self.classes),
            visibility=take(self.visibility),
        )


@dataclass(frozen=True, slots=True)
class MOTSequence:
    """Ground truth and predictions of one sequence.

    Attributes:
        name: sequence name (e.g. ``"MOT17-02-SDP"``).
        gt: ground-truth boxes.
        pred: predicted (tracker) boxes.
        num_frames: number of frames (``seqLength``); every frame number must lie in ``1..num_frames``.
    """

    name: str
    gt: Frames
    pred: Frames
    num_frames: int


@dataclass(frozen=True, slots=True)
class PreparedSequence:
    """One sequence and class, ready for the metrics (TrackEval's preprocessed data dict, as arrays).

    Boxes of each side are sorted by frame, stable (a frame keeps its input row order, which decides ties in the
    Hungarian matchings exactly as in TrackEval). Pairs list every ground-truth/prediction pair of the same frame
    with IoU > 0, ordered by frame, then ground-truth row, then prediction row; pairs with IoU = 0 are left out
    (they can never match). Indices of pairs point into the ground-truth and prediction rows.

    Attributes:
        num_frames: frames in the sequence.
        gt_frame: ``(G_dets,)`` int64, 0-based frame of each ground-truth box, non-decreasing.
        gt_ids: ``(G_dets,)`` int64 in ``0..num_gt_ids-1`` (sorted original ids -> 0, 1, ...).
        pred_frame: ``(P_dets,)`` int64, 0-based frame of each predicted box, non-decreasing.
        pred_ids: ``(P_dets,)`` int64 in ``0..num_pred_ids-1``.
        num_gt_ids: distinct ground-truth ids.
        num_pred_ids: distinct predicted ids.
        pair_gt: ``(M,)`` int64 row index into the ground truth.
        pair_pred: ``(M,)`` int64 row index into the predictions.
        pair_iou: ``(M,)`` float64 IoU in ``(0, 1]``, computed as TrackEval does.
    """

    num_frames: int
    gt_frame: np.ndarray
    gt_ids: np.ndarray
    pred_frame: np.ndarray
    pred_ids: np.ndarray
    num_gt_ids: int
    num_pred_ids: int
    pair_gt: np.ndarray
    pair_pred: np.ndarray
    pair_iou: np.ndarray

    @property
    def num_gt_dets(self) -> int:
        """Ground-truth boxes."""
        return int(self.gt_frame.shape[0])

    @property
    def num_pred_dets(self) -> int:
        """Predicted boxes."""
        return int(self.pred_frame.shape[0])

    @property
    def pair_frame(self) -> np.ndarray:
        """``(M,)`` 0-based frame of each pair."""
        return self.gt_frame[self.pair_gt]

    def gt_offsets(self) -> np.ndarray:
        """``(num_frames + 1,)`` start row of each frame's ground truth (rows of frame t: ``o[t]:o[t+1]``)."""
        return np.searchsorted(self.gt_frame, np.arange(self.num_frames + 1))

    def pred_offsets(self) -> np.ndarray:
        """``(num_frames + 1,)`` start row of each frame's predictions."""
        return np.searchsorted(self.pred_frame, np.arange(self.num_frames + 1))

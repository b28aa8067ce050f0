"""Checking, MOTChallenge preprocessing and per-class preparation of sequences (TrackEval's dataset layer).

MOTChallenge preprocessing (TrackEval ``MotChallenge2DBox.get_preprocessed_seq_data``, on for MOT16/17/20):

1. per frame, predictions are matched to *all* ground-truth boxes (any class) by the Hungarian algorithm on IoU,
   pairs below 0.5 ignored; predictions matched to a distractor box (classes 2 person on vehicle, 7 static person,
   8 distractor, 12 reflection, plus 6 non-motorized vehicle for MOT20) are removed;
2. ground truth is kept only where class = 1 (pedestrian) and ``int(conf) != 0`` (not zero-marked).

Without preprocessing (custom data), each class is evaluated on its own: ground truth of that class that is not
zero-marked (when a confidence column exists) against the predictions of that class.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from yololab.metrics.mot.boxes import EPS, overlapping_pairs
from yololab.metrics.mot.frames import Frames, MOTDataError, MOTSequence, PreparedSequence
from yololab.metrics.mot.matching import DenseFrames, FrameIndex, conflict_frames, solve_max, unique_inverse

__all__ = [
    "DISTRACTOR_CLASSES",
    "PEDESTRIAN",
    "RowOrigin",
    "SequencePairs",
    "check_frames",
    "distractor_matches",
    "pair_sequence",
    "prepare_class",
]

PEDESTRIAN = 1
"""MOTChallenge class id of the evaluated class."""

DISTRACTOR_CLASSES: dict[str, tuple[int, ...]] = {
    "MOT16": (2, 7, 8, 12),
    "MOT17": (2, 7, 8, 12),
    "MOT20": (2, 6, 7, 8, 12),
}
"""Ground-truth classes whose matched predictions are removed, per benchmark (TrackEval)."""

VALID_GT_CLASSES = frozenset(range(1, 14))
"""MOTChallenge ground-truth classes 1..13; others are an error when preprocessing (as TrackEval)."""


@dataclass(frozen=True, slots=True)
class RowOrigin:
    """Where the rows of a :class:`Frames` came from, for error messages.

    Attributes:
        source: a file path, or a label such as ``"MOT17-02 ground truth"`` for in-memory data.
        lines: ``(N,)`` 1-based line number of each row in the file, or None for in-memory rows (then messages
            name the 0-based row index).
    """

    source: str
    lines: np.ndarray | None = None

    def where(self, row: int) -> str:
        """``"path, line 12"`` or ``"label, row 11"``."""
        if self.lines is None:
            return f"{self.source}, row {row}"
        return f"{self.source}, line {int(self.lines[row])}"


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _first_line(mask: np.ndarray, origin: RowOrigin) -> int:
    """The flagged row that comes first in its file (rows may be reordered, e.g. sorted by frame), else by index."""
    rows = np.flatnonzero(mask)
    if origin.lines is None or origin.lines.shape != mask.shape:
        return int(rows[0])
    return int(rows[np.argmin(origin.lines[rows])])


def check_frames(frames: Frames, num_frames: int, origin: RowOrigin) -> None:
    """Raise :class:`MOTDataError` for the first invalid row.

    Invalid: non-finite values, width or height <= 0, a negative id, a frame outside ``1..num_frames``, or an id
    used twice in one frame.

    Args:
        frames: boxes of one side of one sequence.
        num_frames: the sequence length.
        origin: where the rows came from.
    """
    if len(frames) == 0:
        return
    box = frames.boxes_xywh
    finite = np.isfinite(box)
    if not finite.all():
        r = _first_line(~finite.all(axis=1), origin)
        raise MOTDataError(f"{origin.where(r)}: box {box[r].tolist()} is not finite; expected numbers")
    bad = (box[:, 2] <= 0) | (box[:, 3] <= 0)
    if bad.any():
        r = _first_line(bad, origin)
        raise MOTDataError(f"{origin.where(r)}: width {box[r, 2]:g} and height {box[r, 3]:g}; expected both > 0")
    bad = frames.ids < 0
    if bad.any():
        r = _first_line(bad, origin)
        raise MOTDataError(f"{origin.where(r)}: id {int(frames.ids[r])}; expected an id >= 0")
    bad = (frames.frame < 1) | (frames.frame > num_frames)
    if bad.any():
        r = _first_line(bad, origin)
        raise MOTDataError(
            f"{origin.where(r)}: frame {int(frames.frame[r])} is outside the sequence; expected 1..{num_frames}"
        )
    top = int(frames.ids.max()) + 1
    if top < (1 << 62) // (num_frames + 1):  # one integer key per (frame, id): a stable argsort, as lexsort
        order = np.argsort(frames.frame * top + frames.ids, kind="stable")
    else:
        order = np.lexsort((frames.ids, frames.frame))
    f, i = frames.frame[order], frames.ids[order]
    dup = (f[1:] == f[:-1]) & (i[1:] == i[:-1])
    if dup.any():
        k = _first(dup)
        first, second = sorted((int(order[k]), int(order[k + 1])))
        raise MOTDataError(
            f"{origin.where(second)}: id {int(i[k])} appears twice in frame {int(f[k])} "
            f"(first at {origin.where(first).rsplit(', ', 1)[1]}); expected each id at most once per frame"
        )


def _frame_order(frames: Frames) -> np.ndarray | None:
    """Stable sort order by frame, or None when already sorted."""
    if frames.frame.size < 2 or bool(np.all(frames.frame[1:] >= frames.frame[:-1])):
        return None
    return np.argsort(frames.frame, kind="stable")


@dataclass(frozen=True, slots=True)
class SequencePairs:
    """One sequence with both sides sorted by frame and every overlapping pair (all classes)."""

    name: str
    num_frames: int
    gt: Frames
    pred: Frames
    pair_gt: np.ndarray
    pair_pred: np.ndarray
    pair_iou: np.ndarray


def pair_sequence(seq: MOTSequence, *, evaluated: Callable[[Frames], np.ndarray] | None = None) -> SequencePairs:
    """Sort both sides by frame (stable) and find every overlapping pair (IoU > 0) of the same frame.

    Args:
        seq: the sequence.
        evaluated: optional, the ground-truth rows (of the sorted ground truth) that will be evaluated; the others
            get only their pairs with IoU >= 0.5 - eps, all that MOTChallenge preprocessing looks at (on MOT17 +
            MPNTrack 381 of the 168,076 pairs of unevaluated rows).
    """
    gt, pred = seq.gt, seq.pred
    order = _frame_order(gt)
    if order is not None:
        gt = gt.select(order)
    order = _frame_order(pred)
    if order is not None:
        pred = pred.select(order)
    half = None if evaluated is None or len(gt) == 0 else ~evaluated(gt)
    pg, pp, iou = overlapping_pairs(gt.frame - 1, gt.boxes_xywh, pred.frame - 1, pred.boxes_xywh, half)
    return SequencePairs(seq.name, seq.num_frames, gt, pred, pg, pp, iou)


def distractor_matches(pairs: SequencePairs, distractors: Sequence[int]) -> np.ndarray:
    """Boolean ``(P,)`` mask of the predictions TrackEval's MOTChallenge preprocessing removes.

    Per frame, a Hungarian matching on IoU (pairs with IoU < 0.5 scored 0) between all ground truth and all
    predictions; predictions matched to a ground-truth box of a distractor class are flagged.
    """
    remove = np.zeros(len(pairs.pred), bool)
    if pairs.gt.classes is None or pairs.pair_iou.size == 0:
        return remove
    cand = pairs.pair_iou >= 0.5 - EPS
    c_gt, c_pred, c_iou = pairs.pair_gt[cand], pairs.pair_pred[cand], pairs.pair_iou[cand]
    c_frame = pairs.gt.frame[c_gt] - 1
    is_distractor = np.isin(pairs.gt.classes, distractors, kind="table")
    hard = conflict_frames(c_frame, c_gt, c_pred, len(pairs.gt), len(pairs.pred))
    # Only frames where a distractor box is a candidate can remove anything.
    with_distractor = np.zeros(pairs.num_frames, bool)
    with_distractor[c_frame[is_distractor[c_gt]]] = True
    hard = hard[with_distractor[hard]]
    is_hard = np.zeros(pairs.num_frames, bool)
    is_hard[hard] = True
    easy = ~is_hard[c_frame]
    remove[c_pred[easy & is_distractor[c_gt]]] = True
    if hard.size:
        index = FrameIndex(pairs.gt.frame - 1, pairs.pred.frame - 1, c_frame, pairs.num_frames)
        dense = DenseFrames(index, hard, c_gt, c_pred, c_frame, pairs.num_frames)
        g0, p0 = dense.g0.tolist(), dense.p0.tolist()
        for k, score in enumerate(dense.views(dense.fill(c_iou))):
            rows, cols = solve_max(score)
            ok = score[rows, cols] > 0 + EPS
            rows, cols = rows[ok] + g0[k], cols[ok] + p0[k]
            remove[cols[is_distractor[rows]]] = True
    return remove


def _relabel(ids: np.ndarray) -> tuple[np.ndarray, int]:
    """Ids (``>= 0``) as ``0..n-1`` in the order of the original ids, and ``n``."""
    uniq, inv = unique_inverse(ids)
    return inv.astype(np.int64, copy=False), int(uniq.size)


def prepare_class(pairs: SequencePairs, gt_keep: np.ndarray, pred_keep: np.ndarray) -> PreparedSequence:
    """Restrict a paired sequence to the kept rows and relabel ids to ``0..n-1`` (sorted original ids)."""
    new_g = np.cumsum(gt_keep) - 1
    new_p = np.cumsum(pred_keep) - 1
    keep = gt_keep[pairs.pair_gt] & pred_keep[pairs.pair_pred]
    gt_ids, n_g = _relabel(pairs.gt.ids[gt_keep])
    pred_ids, n_p = _relabel(pairs.pred.ids[pred_keep])
    return PreparedSequence(
        num_frames=pairs.num_frames,
        gt_frame=pairs.gt.frame[gt_keep] - 1,
        gt_ids=gt_ids,
        pred_frame=pairs.pred.frame[pred_keep] - 1,
        pred_ids=pred_ids,
        num_gt_ids=n_g,
        num_pred_ids=n_p,
        pair_gt=new_g[pairs.pair_gt[keep]],
        pair_pred=new_p[pairs.pair_pred[keep]],
        pair_iou=pairs.pair_iou[keep],
    )


def not_zero_marked(gt: Frames) -> np.ndarray:
    """Ground-truth rows to evaluate: ``int(conf) != 0`` (truncation, as TrackEval), all rows without a column."""
    if gt.confidence is None:
        return np.ones(len(gt), bool)
    return np.trunc(gt.confidence) != 0


def check_mot_classes(gt: Frames, origin: RowOrigin) -> None:
    """MOTChallenge ground truth needs a class column with classes 1..13 (TrackEval raises otherwise)."""
    if len(gt) == 0:
        return
    if gt.classes is None:
        raise MOTDataError(f"{origin.source}: ground truth has no class column; MOTChallenge expects 9 columns")
    bad = ~np.isin(gt.classes, sorted(VALID_GT_CLASSES), kind="table")
    if bad.any():
        r = _first_line(bad, origin)
        raise MOTDataError(f"{origin.where(r)}: class {int(gt.classes[r])}; expected a MOTChallenge class 1..13")


def check_pedestrian_predictions(pred: Frames, origin: RowOrigin) -> None:
    """MOTChallenge predictions may not name a class other than pedestrian (TrackEval: class column <= 1)."""
    if pred.classes is None or len(pred) == 0:
        return
    bad = pred.classes > PEDESTRIAN
    if bad.any():
        r = _first_line(bad, origin)
        raise MOTDataError(
            f"{origin.where(r)}: class {int(pred.classes[r])} in a MOTChallenge result; expected pedestrian (1) "
            "or an unused column (-1)"
        )

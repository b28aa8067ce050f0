"""Box IoU exactly as TrackEval computes it, and the overlapping box pairs of a sequence.

TrackEval (``datasets/_base_dataset.py::_calculate_box_ious``) works in float64 with ``x2 = x + w``,
``y2 = y + h``; the area of a box is ``(x2 - x) * (y2 - y)`` (not ``w * h``, which can differ in the last bit); an
intersection is zeroed where either area or the union is ``<= eps`` and such a union is replaced by 1. The
functions here repeat those operations element by element, so every IoU is bit-identical to TrackEval's.
"""

from __future__ import annotations

import numpy as np

__all__ = ["EPS", "iou_matrix", "iou_pairs", "overlapping_pairs", "xywh_to_xyxy"]

EPS = float(np.finfo(float).eps)
"""``np.finfo(float).eps``, TrackEval's tolerance in every threshold comparison."""

_CHUNK_PAIRS = 1 << 20
"""Candidate pairs examined at once by :func:`overlapping_pairs` (bounds its temporary memory)."""


def xywh_to_xyxy(boxes_xywh: np.ndarray) -> np.ndarray:
    """``(N, 4)`` left, top, width, height -> ``(N, 4)`` x1, y1, x2 = x1 + w, y2 = y1 + h (float64)."""
    b = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)


def _iou_from_parts(inter: np.ndarray, area1: np.ndarray, area2: np.ndarray) -> np.ndarray:
    union = area1 + area2 - inter
    inter = np.where((area1 <= 0 + EPS) | (area2 <= 0 + EPS) | (union <= 0 + EPS), 0.0, inter)
    union = np.where(union <= 0 + EPS, 1.0, union)
    return inter / union


def iou_pairs(boxes1_xywh: np.ndarray, boxes2_xywh: np.ndarray) -> np.ndarray:
    """IoU of ``boxes1[k]`` with ``boxes2[k]`` for every k (TrackEval's arithmetic, bit for bit).

    Args:
        boxes1_xywh: ``(N, 4)`` boxes as left, top, width, height.
        boxes2_xywh: ``(N, 4)`` boxes, same format.

    Returns:
        ``(N,)`` float64 IoU in ``[0, 1]``.

    Example:
        >>> iou_pairs([[0, 0, 2, 2]], [[1, 0, 2, 2]]).tolist()
        [0.3333333333333333]
    """
    a, b = xywh_to_xyxy(boxes1_xywh), xywh_to_xyxy(boxes2_xywh)
    iw = np.maximum(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0)
    ih = np.maximum(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0)
    area1 = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area2 = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return _iou_from_parts(iw * ih, area1, area2)


def iou_matrix(boxes1_xywh: np.ndarray, boxes2_xywh: np.ndarray) -> np.ndarray:
    """``(N, M)`` IoU of every box of ``boxes1`` with every box of ``boxes2`` (TrackEval's arithmetic).

    Example:
        >>> iou_matrix([[0, 0, 2, 2]], [[0, 0, 2, 2], [4, 4, 1, 1]]).tolist()
        [[1.0, 0.0]]
    """
    b1 = np.asarray(boxes1_xywh, dtype=np.float64).reshape(-1, 4)
    b2 = np.asarray(boxes2_xywh, dtype=np.float64).reshape(-1, 4)
    i, j = np.meshgrid(np.arange(len(b1)), np.arange(len(b2)), indexing="ij")
    return iou_pairs(b1[i.ravel()], b2[j.ravel()]).reshape(len(b1), len(b2))


def _frame_chunks(counts: np.ndarray) -> list[tuple[int, int]]:
    """Split frames into consecutive ranges whose candidate pair counts sum to about ``_CHUNK_PAIRS``."""
    cum = np.cumsum(counts)
    bounds = [0]
    while bounds[-1] < len(counts):
        start_total = cum[bounds[-1] - 1] if bounds[-1] > 0 else 0
        stop = int(np.searchsorted(cum, start_total + _CHUNK_PAIRS, side="right"))
        bounds.append(max(stop, bounds[-1] + 1))
    return list(zip(bounds[:-1], bounds[1:], strict=False))


def overlapping_pairs(
    gt_frame: np.ndarray,
    gt_boxes_xywh: np.ndarray,
    pred_frame: np.ndarray,
    pred_boxes_xywh: np.ndarray,
    num_frames: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every ground-truth/prediction pair of the same frame with IoU > 0, in row-major frame order.

    Args:
        gt_frame: ``(G,)`` 0-based frame of each ground-truth box, non-decreasing.
        gt_boxes_xywh: ``(G, 4)`` ground-truth boxes.
        pred_frame: ``(P,)`` 0-based frame of each predicted box, non-decreasing.
        pred_boxes_xywh: ``(P, 4)`` predicted boxes.
        num_frames: frames in the sequence (every frame index is below it).

    Returns:
        ``(pair_gt, pair_pred, iou)``: row indices into each side and the IoU, ordered by frame, then ground-truth
        row, then prediction row - the order of TrackEval's per-frame similarity matrices.
    """
    g_xyxy, p_xyxy = xywh_to_xyxy(gt_boxes_xywh), xywh_to_xyxy(pred_boxes_xywh)
    g_area = (g_xyxy[:, 2] - g_xyxy[:, 0]) * (g_xyxy[:, 3] - g_xyxy[:, 1])
    p_area = (p_xyxy[:, 2] - p_xyxy[:, 0]) * (p_xyxy[:, 3] - p_xyxy[:, 1])
    g_off = np.searchsorted(gt_frame, np.arange(num_frames + 1))
    p_off = np.searchsorted(pred_frame, np.arange(num_frames + 1))
    n_g, n_p = np.diff(g_off), np.diff(p_off)
    counts = n_g * n_p
    out_g, out_p, out_iou = [], [], []
    for lo, hi in _frame_chunks(counts):
        c = counts[lo:hi]
        total = int(c.sum())
        if total == 0:
            continue
        frames = np.repeat(np.arange(lo, hi), c)
        k = np.arange(total) - np.repeat(np.cumsum(c) - c, c)
        width = n_p[frames]
        gi = g_off[frames] + k // width
        pj = p_off[frames] + k % width
        iw = np.minimum(g_xyxy[gi, 2], p_xyxy[pj, 2]) - np.maximum(g_xyxy[gi, 0], p_xyxy[pj, 0])
        keep = iw > 0
        gi, pj, iw = gi[keep], pj[keep], iw[keep]
        ih = np.minimum(g_xyxy[gi, 3], p_xyxy[pj, 3]) - np.maximum(g_xyxy[gi, 1], p_xyxy[pj, 1])
        keep = ih > 0
        gi, pj, iw, ih = gi[keep], pj[keep], iw[keep], ih[keep]
        iou = _iou_from_parts(iw * ih, g_area[gi], p_area[pj])
        keep = iou > 0
        out_g.append(gi[keep])
        out_p.append(pj[keep])
        out_iou.append(iou[keep])
    if not out_g:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
    return np.concatenate(out_g), np.concatenate(out_p), np.concatenate(out_iou)

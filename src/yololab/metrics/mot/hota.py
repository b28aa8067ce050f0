"""HOTA (Luiten et al., IJCV 2021) exactly as TrackEval computes it (``metrics/hota.py``).

Two passes over the frames. First, a global alignment score between every ground-truth id g and predicted id p:
``A(g, p) = S / (n_g + n_p - S)`` where ``S`` sums, over frames, the pair's IoU divided by the IoU-"union" of its
row and column (``iou / (row_sum + col_sum - iou)``) and ``n_*`` count the boxes of each id. Second, per frame, one
Hungarian matching maximising ``A * IoU``; for each of the 19 ``alpha = 0.05, 0.10, ..., 0.95`` the matched pairs
with IoU >= alpha are true positives. Per alpha: ``DetA = TP / (TP + FN + FP)``,
``AssA = sum_TP A_alpha(g, p) / TP`` with ``A_alpha = TPA / (TPA + FNA + FPA)`` the Jaccard index of the two
tracks' matches, ``HOTA = sqrt(DetA * AssA)``; ``LocA`` is the mean IoU of the TPs. Reported scalars are means
over alpha; ``HOTA(0)``/``LocA(0)`` are the values at alpha = 0.05.

Exactness: the row and column sums of each frame's IoU matrix repeat numpy's summation order, so the alignment scores
are bit-identical to TrackEval's; frames in which a box overlaps two or more boxes are matched on the same dense
matrices as TrackEval, the others (a unique optimum) in closed form.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from yololab.metrics.mot.boxes import EPS
from yololab.metrics.mot.frames import PreparedSequence
from yololab.metrics.mot.matching import (
    DenseFrames,
    FrameIndex,
    conflict_frames,
    distinct,
    linear_sum_assignment,
    pairwise_row_sums,
    unique_inverse,
)

__all__ = ["ALPHAS", "HotaMetrics", "combine_hota", "combine_hota_class_averaged", "compute_hota"]

ALPHAS = np.arange(0.05, 0.99, 0.05)
"""The 19 localisation thresholds, TrackEval's ``np.arange(0.05, 0.99, 0.05)`` (values as that expression gives)."""

_N = len(ALPHAS)


@dataclass(frozen=True, slots=True, eq=False)
class HotaMetrics:
    """HOTA of one sequence or a combination; every array has one entry per alpha (``(19,)`` float64).

    Attributes:
        tp, fn, fp: HOTA_TP / HOTA_FN / HOTA_FP per alpha (integers stored as float, as TrackEval).
        hota, deta, assa, detre, detpr, assre, asspr, loca, owta: per-alpha scores (fractions).
        hota0, loca0: HOTA and LocA at alpha = 0.05 (TrackEval's ``HOTA(0)``, ``LocA(0)``).
    """

    tp: np.ndarray
    fn: np.ndarray
    fp: np.ndarray
    hota: np.ndarray
    deta: np.ndarray
    assa: np.ndarray
    detre: np.ndarray
    detpr: np.ndarray
    assre: np.ndarray
    asspr: np.ndarray
    loca: np.ndarray
    owta: np.ndarray
    hota0: float
    loca0: float

    @classmethod
    def from_parts(
        cls,
        tp: np.ndarray,
        fn: np.ndarray,
        fp: np.ndarray,
        assa: np.ndarray,
        assre: np.ndarray,
        asspr: np.ndarray,
        loca: np.ndarray,
    ) -> HotaMetrics:
        """Derive the detection scores and HOTA from counts and association/localisation scores."""
        detre = tp / np.maximum(1, tp + fn)
        detpr = tp / np.maximum(1, tp + fp)
        deta = tp / np.maximum(1, tp + fn + fp)
        hota = np.sqrt(deta * assa)
        return cls(
            tp=tp,
            fn=fn,
            fp=fp,
            hota=hota,
            deta=deta,
            assa=assa,
            detre=detre,
            detpr=detpr,
            assre=assre,
            asspr=asspr,
            loca=loca,
            owta=np.sqrt(detre * assa),
            hota0=float(hota[0]),
            loca0=float(loca[0]),
        )


def _empty_side(num_fn: int, num_fp: int) -> HotaMetrics:
    """TrackEval's early return for a sequence without predictions or without ground truth."""
    z = np.zeros(_N)
    return HotaMetrics.from_parts(z, np.full(_N, float(num_fn)), np.full(_N, float(num_fp)), z, z, z, np.ones(_N))


def _exact_sums(data: PreparedSequence, index: FrameIndex) -> tuple[np.ndarray, np.ndarray]:
    """Row sums per ground-truth box and column sums per predicted box of every frame's IoU matrix.

    Bit-identical to TrackEval's ``similarity.sum(1)`` / ``similarity.sum(0)``.

    numpy sums rows pairwise (:func:`~yololab.metrics.mot.matching.pairwise_row_sums`) and columns of a matrix with
    two or more columns top to bottom (a sequential ``bincount`` over the row-major pairs); a single-column matrix is
    summed like a row. Rows longer than numpy's 128-element block are summed by numpy itself.
    """
    pg, pp, iou = data.pair_gt, data.pair_pred, data.pair_iou
    n_g = np.diff(index.g_off)
    n_p = np.diff(index.p_off)
    g_frame, p_frame = data.gt_frame, data.pred_frame
    row, exact = pairwise_row_sums(pg, pp - index.p_off[g_frame[pg]], iou, n_p[g_frame], data.num_gt_dets)
    col = np.bincount(pp, weights=iou, minlength=data.num_pred_dets).astype(np.float64, copy=False)
    single = n_p[p_frame[pp]] == 1  # a one-column matrix: its column is summed pairwise
    if single.any():
        sub_pg, sub_pp, sub_iou = pg[single], pp[single], iou[single]
        col_single, _ = pairwise_row_sums(
            sub_pp, sub_pg - index.g_off[g_frame[sub_pg]], sub_iou, n_g[p_frame], data.num_pred_dets
        )
        one_col = n_p[p_frame] == 1
        col[one_col] = col_single[one_col]
    for t in distinct(g_frame[~exact]).tolist():  # rows of more than 128 predictions: numpy itself
        lo, hi = index.pair_off[t], index.pair_off[t + 1]
        g0, p0 = index.g_off[t], index.p_off[t]
        sim = np.zeros((index.g_off[t + 1] - g0, index.p_off[t + 1] - p0))
        sim[pg[lo:hi] - g0, pp[lo:hi] - p0] = iou[lo:hi]
        row[g0 : index.g_off[t + 1]] = sim.sum(1)
    return row, col


def _alignment(data: PreparedSequence, row: np.ndarray, col: np.ndarray) -> tuple[np.ndarray, ...]:
    """Global alignment score of the id pair of every box pair, and the box counts per id."""
    pg, pp, iou = data.pair_gt, data.pair_pred, data.pair_iou
    denom = col[pp] + row[pg] - iou
    safe = denom > 0 + EPS
    sim_iou = np.zeros_like(iou)
    sim_iou[safe] = iou[safe] / denom[safe]
    keys = data.gt_ids[pg] * data.num_pred_ids + data.pred_ids[pp]
    uniq, inv = unique_inverse(keys, data.num_gt_ids * data.num_pred_ids)
    potential = np.bincount(inv, weights=sim_iou, minlength=uniq.size).astype(np.float64)  # time order, as TrackEval
    gt_count = np.bincount(data.gt_ids, minlength=data.num_gt_ids).astype(np.float64)
    pred_count = np.bincount(data.pred_ids, minlength=data.num_pred_ids).astype(np.float64)
    ug, up = uniq // data.num_pred_ids, uniq % data.num_pred_ids
    score = potential / (gt_count[ug] + pred_count[up] - potential)
    return score[inv], gt_count, pred_count


def _match(data: PreparedSequence, index: FrameIndex, gas: np.ndarray) -> tuple[np.ndarray, ...]:
    """HOTA's per-frame matching: ``(gt_row, pred_row, iou)`` of every matched pair with IoU > 0."""
    pg, pp, iou = data.pair_gt, data.pair_pred, data.pair_iou
    pair_frame = data.gt_frame[pg]
    hard = conflict_frames(pair_frame, pg, pp, data.num_gt_dets, data.num_pred_dets)
    is_hard = np.zeros(data.num_frames, bool)
    is_hard[hard] = True
    easy = ~is_hard[pair_frame]
    if hard.size == 0:
        return pg[easy], pp[easy], iou[easy]
    dense = DenseFrames(index, hard, pg, pp, pair_frame, data.num_frames)
    neg_score = dense.fill(-(gas * iou))  # TrackEval: linear_sum_assignment(-(alignment * similarity))
    solved = [linear_sum_assignment(v) for v in dense.views(neg_score)]
    rows_list = [rows for rows, _ in solved]
    cols_list = [cols for _, cols in solved]
    lengths = [r.size for r in rows_list]
    slot = np.repeat(np.arange(hard.size), lengths)
    m_gt = np.concatenate(rows_list) + dense.g0[slot]
    m_pred = np.concatenate(cols_list) + dense.p0[slot]
    # Look the pairs up among the overlapping ones (pair keys increase: row-major order); others have IoU 0.
    n_pred = data.num_pred_dets
    keys = pg * n_pred + pp
    want = m_gt * n_pred + m_pred
    at = np.minimum(np.searchsorted(keys, want), keys.size - 1)
    hit = keys[at] == want
    at = at[hit]
    return np.concatenate([pg[easy], pg[at]]), np.concatenate([pp[easy], pp[at]]), np.concatenate([iou[easy], iou[at]])


def _alpha_stats(
    data: PreparedSequence,
    m_gt: np.ndarray,
    m_pred: np.ndarray,
    m_iou: np.ndarray,
    gt_count: np.ndarray,
    pred_count: np.ndarray,
) -> HotaMetrics:
    """Per-alpha counts, association and localisation scores from the matched pairs."""
    level = np.searchsorted(ALPHAS - EPS, m_iou, side="right")  # matched at alphas 0..level-1
    keys = data.gt_ids[m_gt] * data.num_pred_ids + data.pred_ids[m_pred]
    uniq, inv = unique_inverse(keys, data.num_gt_ids * data.num_pred_ids)
    hist = np.bincount(inv * (_N + 1) + level, minlength=uniq.size * (_N + 1)).reshape(uniq.size, _N + 1)
    matches = np.cumsum(hist[:, ::-1], axis=1)[:, ::-1][:, 1:].astype(np.float64)  # (pairs, alphas)
    tp = matches.sum(0)
    iou_hist = np.bincount(level, weights=m_iou, minlength=_N + 1).astype(np.float64)
    loca_sum = np.cumsum(iou_hist[::-1])[::-1][1:]
    gc = gt_count[uniq // data.num_pred_ids][:, None]
    pc = pred_count[uniq % data.num_pred_ids][:, None]
    weight = np.maximum(1, tp)
    assa = np.sum(matches * (matches / np.maximum(1, gc + pc - matches)), axis=0) / weight
    assre = np.sum(matches * (matches / np.maximum(1, gc)), axis=0) / weight
    asspr = np.sum(matches * (matches / np.maximum(1, pc)), axis=0) / weight
    fn = data.num_gt_dets - tp
    fp = data.num_pred_dets - tp
    loca = np.maximum(1e-10, loca_sum) / np.maximum(1e-10, tp)
    return HotaMetrics.from_parts(tp, fn, fp, assa, assre, asspr, loca)


def compute_hota(data: PreparedSequence) -> HotaMetrics:
    """HOTA and its sub-metrics for one sequence (TrackEval ``HOTA.eval_sequence``).

    Args:
        data: the prepared sequence.

    Returns:
        Per-alpha arrays and HOTA(0)/LocA(0).
    """
    if data.num_pred_dets == 0:
        return _empty_side(data.num_gt_dets, 0)
    if data.num_gt_dets == 0:
        return _empty_side(0, data.num_pred_dets)
    index = FrameIndex(data.gt_frame, data.pred_frame, data.gt_frame[data.pair_gt], data.num_frames)
    row, col = _exact_sums(data, index)
    gas, gt_count, pred_count = _alignment(data, row, col)
    m_gt, m_pred, m_iou = _match(data, index, gas)
    return _alpha_stats(data, m_gt, m_pred, m_iou, gt_count, pred_count)


def combine_hota(results: list[HotaMetrics]) -> HotaMetrics:
    """Combine sequences (or classes, detection-averaged) as TrackEval.

    Counts summed, AssA/AssRe/AssPr and LocA averaged weighted by each part's TP (so the combined HOTA is not the
    mean of the parts' HOTA).
    """
    tp = sum(r.tp for r in results)
    fn = sum(r.fn for r in results)
    fp = sum(r.fp for r in results)
    weight = np.maximum(1.0, tp)
    assa = sum(r.assa * r.tp for r in results) / weight
    assre = sum(r.assre * r.tp for r in results) / weight
    asspr = sum(r.asspr * r.tp for r in results) / weight
    loca = np.maximum(1e-10, sum(r.loca * r.tp for r in results)) / np.maximum(1e-10, tp)
    return HotaMetrics.from_parts(tp, fn, fp, assa, assre, asspr, loca)


def combine_hota_class_averaged(results: list[HotaMetrics]) -> HotaMetrics:
    """Class-averaged combination (TrackEval ``combine_classes_class_averaged``).

    Counts summed, every score the plain mean over classes (HOTA(0)/LocA(0) included).
    """

    def mean(name: str) -> np.ndarray:
        return np.mean([getattr(r, name) for r in results], axis=0)

    return HotaMetrics(
        tp=sum(r.tp for r in results),
        fn=sum(r.fn for r in results),
        fp=sum(r.fp for r in results),
        hota=mean("hota"),
        deta=mean("deta"),
        assa=mean("assa"),
        detre=mean("detre"),
        detpr=mean("detpr"),
        assre=mean("assre"),
        asspr=mean("asspr"),
        loca=mean("loca"),
        owta=mean("owta"),
        hota0=float(mean("hota0")),
        loca0=float(mean("loca0")),
    )

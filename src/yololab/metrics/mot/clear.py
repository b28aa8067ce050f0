"""CLEAR MOT metrics (Bernardin & Stiefelhagen 2008) exactly as TrackEval computes them (``metrics/clear.py``).

Per frame, ground truth and predictions are matched by the Hungarian algorithm on IoU >= ``threshold``; a pair that
continues the previous frame's match scores +1000, so identities are kept where possible. "Previous frame" means the
last frame that had both ground truth and predictions (TrackEval keeps that state across frames without
predictions). An ID switch is counted when a ground-truth track is matched to a different prediction id than the last
one it was ever matched to; a fragmentation when a track becomes matched again after a frame (with both sides
present) in which it was not. MT/PT/ML: tracked for > 80 %, >= 20 % (and not MT), < 20 % of its frames.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from yololab.metrics.mot.boxes import EPS
from yololab.metrics.mot.counts import SummableCounts
from yololab.metrics.mot.frames import PreparedSequence
from yololab.metrics.mot.matching import DenseFrames, FrameIndex, linear_sum_assignment, star_conflicts

__all__ = ["ClearCounts", "ClearMetrics", "combine_clear", "compute_clear"]


@dataclass(frozen=True, slots=True)
class ClearCounts(SummableCounts):
    """CLEAR counts of one or more sequences; ``a + b`` combines them (TrackEval sums these fields).

    Attributes:
        tp: matched ground-truth boxes (CLR_TP).
        fn: unmatched ground-truth boxes (CLR_FN).
        fp: unmatched predicted boxes (CLR_FP).
        id_switches: IDSW.
        mt: mostly tracked ground-truth tracks.
        pt: partially tracked tracks.
        ml: mostly lost tracks.
        frag: fragmentations.
        frames: frames evaluated (CLR_Frames).
        iou_sum: sum of the IoU of all matches (MOTP_sum).
    """

    tp: int = 0
    fn: int = 0
    fp: int = 0
    id_switches: int = 0
    mt: int = 0
    pt: int = 0
    ml: int = 0
    frag: int = 0
    frames: int = 0
    iou_sum: float = 0.0


@dataclass(frozen=True, slots=True)
class ClearMetrics:
    """CLEAR counts with their ratios (fractions), TrackEval's ``_compute_final_fields``.

    ``mota = (TP - FP - IDSW) / max(1, TP + FN)``, ``moda = (TP - FP) / max(1, TP + FN)``,
    ``motp = iou_sum / max(1, TP)``, ``smota = (iou_sum - FP - IDSW) / max(1, TP + FN)``,
    ``recall = TP / max(1, TP + FN)``, ``precision = TP / max(1, TP + FP)``,
    ``mtr/ptr/mlr = MT/PT/ML / max(1, tracks)``,
    ``f1 = TP / max(1, TP + FN/2 + FP/2)``, ``motal`` uses ``log10(IDSW)``.
    """

    counts: ClearCounts
    mota: float
    motp: float
    moda: float
    smota: float
    recall: float
    precision: float
    mtr: float
    ptr: float
    mlr: float
    f1: float
    fp_per_frame: float
    motal: float

    @classmethod
    def from_counts(cls, c: ClearCounts) -> ClearMetrics:
        """Ratios derived from counts (per sequence and after combining, as TrackEval)."""
        gt = max(1.0, c.tp + c.fn)
        tracks = max(1.0, c.mt + c.pt + c.ml)
        log_idsw = np.log10(c.id_switches) if c.id_switches > 0 else 0.0
        return cls(
            counts=c,
            mota=(c.tp - c.fp - c.id_switches) / gt,
            motp=c.iou_sum / max(1.0, c.tp),
            moda=(c.tp - c.fp) / gt,
            smota=(c.iou_sum - c.fp - c.id_switches) / gt,
            recall=c.tp / gt,
            precision=c.tp / max(1.0, c.tp + c.fp),
            mtr=c.mt / tracks,
            ptr=c.pt / tracks,
            mlr=c.ml / tracks,
            f1=c.tp / max(1.0, c.tp + 0.5 * c.fn + 0.5 * c.fp),
            fp_per_frame=c.fp / max(1.0, c.frames),
            motal=float((c.tp - c.fp - log_idsw) / gt),
        )

    @classmethod
    def _early_return(cls, c: ClearCounts) -> ClearMetrics:
        """TrackEval's result for a sequence without predictions or without ground truth: all ratios 0, MLR 1."""
        zeros = dict.fromkeys((f.name for f in fields(cls) if f.name != "counts"), 0.0)
        return cls(counts=c, **{**zeros, "mlr": 1.0})


def _previous_active(active: np.ndarray) -> np.ndarray:
    """For each frame, the last earlier frame with both sides present (-1 if none)."""
    idx = np.where(active, np.arange(active.size), -1)
    prev = np.maximum.accumulate(idx)
    return np.concatenate([[-1], prev[:-1]])


def _previous_rows(data: PreparedSequence, prev_active: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For the given ground-truth rows, the row of the same id in the previous active frame (-1 if none)."""
    frames = data.num_frames + 1
    key = data.gt_ids * frames + data.gt_frame
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    prev = prev_active[data.gt_frame[rows]]
    want = data.gt_ids[rows] * frames + prev
    at = np.minimum(np.searchsorted(sorted_key, want), key.size - 1)
    found = (prev >= 0) & (sorted_key[at] == want)
    return np.where(found, order[at], -1)


def _settled_stars(
    star_start: np.ndarray, prev_pid: np.ndarray, pair_pid: np.ndarray, pair_gt: np.ndarray, pair_pred: np.ndarray
) -> tuple[dict[int, int], np.ndarray]:
    """The decisions of the stars that read no decision made in the loop (no pair's previous match is open).

    Each such star takes its first pair whose ground truth's previous match is the pair's prediction id (the
    1000 bonus), else its first pair (the best score): what the loop of :func:`_match_frames` decides for it, made
    for all of them at once. Returns ground-truth row -> prediction row (the loop adds the other conflicts), and
    the sorted indices of the stars left to the loop.
    """
    if pair_gt.size == 0:
        return {}, np.zeros(0, np.int64)
    star = np.repeat(np.arange(star_start.size - 1), np.diff(star_start))
    waits = np.zeros(star_start.size - 1, bool)
    waits[star[prev_pid == -2]] = True
    hit = np.flatnonzero((prev_pid >= 0) & (prev_pid == pair_pid))
    chosen = star_start[:-1].copy()
    first = np.flatnonzero(np.concatenate([[True], star[hit][1:] != star[hit][:-1]])) if hit.size else hit
    chosen[star[hit[first]]] = hit[first]  # hits are in pair order: the first of each star
    chosen = chosen[~waits]
    return dict(zip(pair_gt[chosen].tolist(), pair_pred[chosen].tolist(), strict=True)), np.flatnonzero(waits)


def _match_frames(data: PreparedSequence, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All CLEAR matches ``(gt_row, pred_row, iou)``, ordered by ground-truth row.

    TrackEval solves every frame on the score matrix ``1000 * continues_previous_match + IoU`` (0 below the
    threshold), in time order, the bonus coming from the previous active frame's matches. Here pairs that share no
    box are matched outright; a conflict that is a star (:func:`~yololab.metrics.mot.matching.star_conflicts`)
    takes its pair that continues the previous match (the bonus, at most one per star) or else its best IoU; the
    remaining frames are solved on TrackEval's very matrix. Frames are visited in time order, so each bonus reads
    final matches.
    """
    cand = data.pair_iou >= threshold - EPS
    c_gt, c_pred, c_iou = data.pair_gt[cand], data.pair_pred[cand], data.pair_iou[cand]
    c_frame = data.gt_frame[c_gt]
    conflicts = star_conflicts(c_frame, c_gt, c_pred, c_iou, data.num_gt_dets, data.num_pred_dets)
    if not conflicts.busy.any():
        return c_gt, c_pred, c_iou
    alone = ~conflicts.busy
    match = np.full(data.num_gt_dets, -1, np.int64)
    match[c_gt[alone]] = c_pred[alone]
    open_row = np.zeros(data.num_gt_dets, bool)  # its match is decided below
    open_row[c_gt[conflicts.busy]] = True
    index = FrameIndex(data.gt_frame, data.pred_frame, c_frame, data.num_frames)
    active = (np.diff(index.g_off) > 0) & (np.diff(index.p_off) > 0)
    dense_frames = conflicts.dense_frames
    dense = DenseFrames(index, dense_frames, c_gt, c_pred, c_frame, data.num_frames)
    # Rows whose previous match the bonus reads: the star pairs' and every row of a densely solved frame.
    star_gt = c_gt[conflicts.star_pairs]
    dense_rows = (
        np.repeat(dense.g0, dense.n_g)
        + np.arange(int(dense.n_g.sum()))
        - np.repeat(np.cumsum(dense.n_g) - dense.n_g, dense.n_g)
    )
    asked = np.concatenate([star_gt, dense_rows])
    prev = _previous_rows(data, _previous_active(active), asked)
    # The previous active frame's matched prediction id of each asked row: known now unless that row is open.
    pred_ids = data.pred_ids
    prev_match = np.where(prev >= 0, match[np.maximum(prev, 0)], -1)
    prev_pid = np.where(prev_match >= 0, pred_ids[np.maximum(prev_match, 0)], -1)
    prev_open = (prev >= 0) & open_row[np.maximum(prev, 0)]
    prev_pid[prev_open] = -2  # read the decision made earlier in time
    n_star = star_gt.size
    s_pred_arr = c_pred[conflicts.star_pairs]
    s_pid_arr = pred_ids[s_pred_arr]
    decided, waiting = _settled_stars(conflicts.star_start, prev_pid[:n_star], s_pid_arr, star_gt, s_pred_arr)
    if decided:
        match[np.fromiter(decided.keys(), np.int64, len(decided))] = np.fromiter(
            decided.values(), np.int64, len(decided)
        )
    star_prev_pid = prev_pid[:n_star].tolist()
    star_prev_row = prev[:n_star].tolist()
    pid = pred_ids.tolist()
    s_gt = star_gt.tolist()
    s_pred = s_pred_arr.tolist()
    s_pid = s_pid_arr.tolist()
    s_start = conflicts.star_start.tolist()
    events = [(t, 0, k) for k, t in enumerate(dense_frames.tolist())]
    events += [(t, 1, k) for t, k in zip(conflicts.star_frame[waiting].tolist(), waiting.tolist(), strict=True)]
    events.sort()
    # The frames' cost matrices: -IoU, or -(1000 + IoU) where a pair continues the previous match (IoU > 0 only).
    sim = dense.fill(c_iou)
    plain_costs = dense.views(-sim)
    bonus_costs = dense.views(np.where(sim > 0, -(sim + 1000), -sim))
    g0, p0, n_g = dense.g0.tolist(), dense.p0.tolist(), dense.n_g.tolist()
    dense_start = (np.cumsum(dense.n_g) - dense.n_g).tolist()
    # Each dense frame's rows whose previous match is decided in the loop (position in the frame, previous row).
    dense_prev_pid, dense_prev_row = prev_pid[n_star:], prev[n_star:]
    later = np.flatnonzero(dense_prev_pid == -2)
    later_rows = dense_prev_row[later]
    later_off = np.searchsorted(later, np.append(dense_start, dense_prev_pid.size)).tolist()
    later -= np.repeat(np.asarray(dense_start, np.int64), np.diff(later_off))
    row_of = match.item
    pid_or_none = np.append(pred_ids, -1)  # a prediction row's id; at -1 (unmatched): -1
    for _, kind, k in events:  # in time order: the stars that read an earlier decision, and the dense frames
        if kind:  # a star: the pair continuing the previous match, else the best one (its first)
            lo, hi = s_start[k], s_start[k + 1]
            chosen = lo
            for e in range(lo, hi):
                want = star_prev_pid[e]
                if want == -2:
                    row = row_of(star_prev_row[e])
                    want = pid[row] if row >= 0 else -1
                if want >= 0 and want == s_pid[e]:
                    chosen = e
                    break
            match[s_gt[chosen]] = s_pred[chosen]
            continue
        a, n, start = g0[k], n_g[k], dense_start[k]
        want = dense_prev_pid[start : start + n]
        w0, w1 = later_off[k], later_off[k + 1]
        if w1 > w0:
            want = want.copy()
            want[later[w0:w1]] = np.take(pid_or_none, np.take(match, later_rows[w0:w1]))  # -1: no match
        plain = plain_costs[k]
        bonus = want[:, None] == pred_ids[p0[k] : p0[k] + plain.shape[1]][None, :]
        cost = np.where(bonus, bonus_costs[k], plain)  # TrackEval's -(1000 * bonus + IoU), 0 below the threshold
        rows, cols = linear_sum_assignment(cost)
        ok = np.take(cost, rows * cost.shape[1] + cols) < 0 - EPS  # score > 0 + eps
        match[rows[ok] + a] = cols[ok] + p0[k]
    m_gt = np.flatnonzero(match >= 0)
    m_pred = match[m_gt]
    # IoU of each match: look the pair up among the candidates (keys increase: row-major order).
    keys = c_gt * data.num_pred_dets + c_pred
    at = np.searchsorted(keys, m_gt * data.num_pred_dets + m_pred)
    return m_gt, m_pred, c_iou[at]


def compute_clear(data: PreparedSequence, *, threshold: float = 0.5) -> ClearMetrics:
    """CLEAR MOT metrics of one sequence (TrackEval ``CLEAR.eval_sequence``).

    Args:
        data: the prepared sequence.
        threshold: IoU a match needs (TrackEval's ``THRESHOLD``, default 0.5).

    Returns:
        Counts and ratios. As in TrackEval, a sequence without predictions or without ground truth reports every
        ratio as 0 (and MLR as 1), whatever its counts.
    """
    if data.num_pred_dets == 0:
        return ClearMetrics._early_return(ClearCounts(fn=data.num_gt_dets, ml=data.num_gt_ids))
    if data.num_gt_dets == 0:
        return ClearMetrics._early_return(ClearCounts(fp=data.num_pred_dets))
    m_gt, m_pred, m_iou = _match_frames(data, threshold)
    # Order the matches by track, then frame.
    gid, pid, frame = data.gt_ids[m_gt], data.pred_ids[m_pred], data.gt_frame[m_gt]
    order = np.lexsort((frame, gid))
    gid, pid, frame = gid[order], pid[order], frame[order]
    same_track = np.concatenate([[False], gid[1:] == gid[:-1]])[: gid.size]
    idsw = int(np.count_nonzero(same_track[1:] & (pid[1:] != pid[:-1])))
    g_off = np.searchsorted(data.gt_frame, np.arange(data.num_frames + 1))
    p_off = np.searchsorted(data.pred_frame, np.arange(data.num_frames + 1))
    active_rank = np.cumsum((np.diff(g_off) > 0) & (np.diff(p_off) > 0))
    rank = active_rank[frame]
    continued = same_track & np.concatenate([[False], rank[1:] == rank[:-1] + 1])[: gid.size]
    starts = int(np.count_nonzero(~continued))
    tracked_ids = int(np.count_nonzero(np.bincount(gid, minlength=data.num_gt_ids)))
    gt_count = np.bincount(data.gt_ids, minlength=data.num_gt_ids)
    matched_count = np.bincount(gid, minlength=data.num_gt_ids)
    ratio = matched_count[gt_count > 0] / gt_count[gt_count > 0]
    mt = int(np.count_nonzero(ratio > 0.8))
    pt = int(np.count_nonzero(ratio >= 0.2)) - mt
    tp = int(m_gt.size)
    counts = ClearCounts(
        tp=tp,
        fn=data.num_gt_dets - tp,
        fp=data.num_pred_dets - tp,
        id_switches=idsw,
        mt=mt,
        pt=pt,
        ml=data.num_gt_ids - mt - pt,
        frag=starts - tracked_ids,
        frames=data.num_frames,
        iou_sum=float(m_iou.sum()),
    )
    return ClearMetrics.from_counts(counts)


def combine_clear(results: list[ClearMetrics]) -> ClearMetrics:
    """Combine sequences (or classes, detection-averaged): sum the counts, recompute the ratios."""
    total = ClearCounts()
    for r in results:
        total = total + r.counts
    return ClearMetrics.from_counts(total)

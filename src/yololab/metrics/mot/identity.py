"""Identity metrics (Ristani et al. 2016) exactly as TrackEval computes them (``metrics/identity.py``).

One global assignment per sequence between ground-truth and predicted ids, minimising IDFN + IDFP, where a pair of
ids "matches" in a frame when their boxes have IoU >= ``threshold``. TrackEval solves it on a square
``(G + P) x (G + P)`` cost matrix with dummy rows and columns; it is rebuilt here entry for entry (all entries are
integers or 1e10, so the matrix and the solver's tie-breaking are identical).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from yololab.metrics.mot.counts import SummableCounts
from yololab.metrics.mot.frames import PreparedSequence
from yololab.metrics.mot.matching import linear_sum_assignment

__all__ = ["IdentityCounts", "IdentityMetrics", "combine_identity", "compute_identity"]

_FORBIDDEN = 1e10
"""TrackEval's cost for impossible assignments in the Identity matrix."""


@dataclass(frozen=True, slots=True)
class IdentityCounts(SummableCounts):
    """Identity counts; ``a + b`` combines sequences (TrackEval sums them).

    Attributes:
        idtp: ground-truth boxes matched to the prediction id assigned to their track.
        idfn: ground-truth boxes not so matched.
        idfp: predicted boxes not so matched.
    """

    idtp: int = 0
    idfn: int = 0
    idfp: int = 0


@dataclass(frozen=True, slots=True)
class IdentityMetrics:
    """Identity counts with ratios.

    ``idf1 = IDTP / max(1, IDTP + IDFP/2 + IDFN/2)``, ``id_precision = IDTP / max(1, IDTP + IDFP)``,
    ``id_recall = IDTP / max(1, IDTP + IDFN)``.
    """

    counts: IdentityCounts
    idf1: float
    id_precision: float
    id_recall: float

    @classmethod
    def from_counts(cls, c: IdentityCounts) -> IdentityMetrics:
        """Ratios derived from counts (TrackEval ``_compute_final_fields``)."""
        return cls(
            counts=c,
            idf1=c.idtp / max(1.0, c.idtp + 0.5 * c.idfp + 0.5 * c.idfn),
            id_precision=c.idtp / max(1.0, c.idtp + c.idfp),
            id_recall=c.idtp / max(1.0, c.idtp + c.idfn),
        )


def _cost_matrices(gt_count: np.ndarray, pred_count: np.ndarray, potential: np.ndarray) -> tuple[np.ndarray, ...]:
    n_g, n_p = gt_count.size, pred_count.size
    fp_mat = np.zeros((n_g + n_p, n_g + n_p))
    fn_mat = np.zeros((n_g + n_p, n_g + n_p))
    fp_mat[n_g:, :n_p] = _FORBIDDEN
    fn_mat[:n_g, n_p:] = _FORBIDDEN
    fn_mat[:n_g, :n_p] = gt_count[:, None]
    fn_mat[np.arange(n_g), n_p + np.arange(n_g)] = gt_count
    fp_mat[:n_g, :n_p] = pred_count[None, :]
    fp_mat[np.arange(n_p) + n_g, np.arange(n_p)] = pred_count
    fn_mat[:n_g, :n_p] -= potential
    fp_mat[:n_g, :n_p] -= potential
    return fn_mat, fp_mat


def compute_identity(data: PreparedSequence, *, threshold: float = 0.5) -> IdentityMetrics:
    """IDF1, IDP, IDR and their counts for one sequence (TrackEval ``Identity.eval_sequence``).

    Args:
        data: the prepared sequence.
        threshold: IoU at which two boxes count as the same object (``>=``, TrackEval's ``THRESHOLD``).
    """
    if data.num_pred_dets == 0:
        return IdentityMetrics.from_counts(IdentityCounts(idfn=data.num_gt_dets))
    if data.num_gt_dets == 0:
        return IdentityMetrics.from_counts(IdentityCounts(idfp=data.num_pred_dets))
    n_g, n_p = data.num_gt_ids, data.num_pred_ids
    ok = data.pair_iou >= threshold
    keys = data.gt_ids[data.pair_gt[ok]] * n_p + data.pred_ids[data.pair_pred[ok]]
    potential = np.bincount(keys, minlength=n_g * n_p).reshape(n_g, n_p).astype(np.float64)
    gt_count = np.bincount(data.gt_ids, minlength=n_g).astype(np.float64)
    pred_count = np.bincount(data.pred_ids, minlength=n_p).astype(np.float64)
    fn_mat, fp_mat = _cost_matrices(gt_count, pred_count, potential)
    rows, cols = linear_sum_assignment(fn_mat + fp_mat)
    idfn = int(fn_mat[rows, cols].sum())
    idfp = int(fp_mat[rows, cols].sum())
    counts = IdentityCounts(idtp=int(gt_count.sum()) - idfn, idfn=idfn, idfp=idfp)
    return IdentityMetrics.from_counts(counts)


def combine_identity(results: list[IdentityMetrics]) -> IdentityMetrics:
    """Combine sequences (or classes, detection-averaged): sum the counts, recompute the ratios."""
    total = IdentityCounts()
    for r in results:
        total = total + r.counts
    return IdentityMetrics.from_counts(total)

"""Per-frame Hungarian matching shared by CLEAR, HOTA and the MOTChallenge preprocessing.

TrackEval solves one ``linear_sum_assignment`` per frame on a dense score matrix. A frame whose candidate pairs
form a matching already (no box has two candidates) has exactly one optimal assignment - take every candidate -
so it needs no solver. Only the other ("conflict") frames are solved, and they are solved on the very matrix
TrackEval builds (same shape, row and column order and values), so ties break identically.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["FrameIndex", "conflict_frames", "solve_max"]


class FrameIndex:
    """Row ranges of each frame on both sides, and the pair range of each frame.

    Args:
        gt_frame: ``(G,)`` non-decreasing 0-based frame of each ground-truth row.
        pred_frame: ``(P,)`` non-decreasing 0-based frame of each predicted row.
        pair_frame: ``(M,)`` non-decreasing frame of each pair.
        num_frames: frames in the sequence.
    """

    __slots__ = ("g_off", "p_off", "pair_off")

    def __init__(self, gt_frame: np.ndarray, pred_frame: np.ndarray, pair_frame: np.ndarray, num_frames: int):
        frames = np.arange(num_frames + 1)
        self.g_off = np.searchsorted(gt_frame, frames)
        self.p_off = np.searchsorted(pred_frame, frames)
        self.pair_off = np.searchsorted(pair_frame, frames)

    def dense(self, t: int, pair_gt: np.ndarray, pair_pred: np.ndarray, values: np.ndarray) -> np.ndarray:
        """The ``(n_gt(t), n_pred(t))`` matrix of frame t holding ``values`` at its pairs and 0 elsewhere."""
        g0, p0 = self.g_off[t], self.p_off[t]
        lo, hi = self.pair_off[t], self.pair_off[t + 1]
        mat = np.zeros((self.g_off[t + 1] - g0, self.p_off[t + 1] - p0))
        mat[pair_gt[lo:hi] - g0, pair_pred[lo:hi] - p0] = values[lo:hi]
        return mat


def conflict_frames(
    pair_frame: np.ndarray, pair_gt: np.ndarray, pair_pred: np.ndarray, num_gt: int, num_pred: int
) -> np.ndarray:
    """Sorted frames in which some box has two or more of the given candidate pairs."""
    deg_g = np.bincount(pair_gt, minlength=num_gt)
    deg_p = np.bincount(pair_pred, minlength=num_pred)
    busy = (deg_g[pair_gt] > 1) | (deg_p[pair_pred] > 1)
    return np.unique(pair_frame[busy])


def solve_max(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``linear_sum_assignment(-score)``: the assignment maximising the total score (TrackEval's call)."""
    return linear_sum_assignment(-score)

"""Per-frame Hungarian matching shared by CLEAR, HOTA and the MOTChallenge preprocessing.

TrackEval solves one ``linear_sum_assignment`` per frame on a dense score matrix. A frame whose candidate pairs
form a matching already (no box has two candidates) has exactly one optimal assignment - take every candidate -
so it needs no solver. Only the other ("conflict") frames are solved, and they are solved on the very matrix
TrackEval builds (same shape, row and column order and values), so ties break identically.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["DenseFrames", "FrameIndex", "conflict_frames", "pairwise_row_sums", "solve_max"]


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


class DenseFrames:
    """The dense ``(n_gt(t), n_pred(t))`` matrices of selected frames, stored back to back in one flat buffer.

    ``fill(values)`` scatters per-pair values (0 elsewhere) into a new buffer in one vectorised step;
    ``view(buf, k)`` is the k-th frame's matrix (a C-contiguous view, as TrackEval's arrays).
    """

    __slots__ = ("frames", "g0", "n_g", "n_p", "p0", "pair_mask", "pos", "size", "start")

    def __init__(
        self,
        index: FrameIndex,
        frames: np.ndarray,
        pair_gt: np.ndarray,
        pair_pred: np.ndarray,
        pair_frame: np.ndarray,
        num_frames: int,
    ):
        self.frames = frames
        self.g0 = index.g_off[frames]
        self.p0 = index.p_off[frames]
        self.n_g = index.g_off[frames + 1] - self.g0
        self.n_p = index.p_off[frames + 1] - self.p0
        sizes = self.n_g * self.n_p
        self.start = np.cumsum(sizes) - sizes
        self.size = int(sizes.sum())
        slot = np.full(num_frames, -1, np.int64)
        slot[frames] = np.arange(frames.size)
        k = slot[pair_frame]
        self.pair_mask = k >= 0
        k = k[self.pair_mask]
        rows = pair_gt[self.pair_mask] - self.g0[k]
        cols = pair_pred[self.pair_mask] - self.p0[k]
        self.pos = self.start[k] + rows * self.n_p[k] + cols

    def fill(self, values: np.ndarray) -> np.ndarray:
        """Flat buffer holding ``values`` (one per pair) at their frame/row/column, 0 elsewhere."""
        buf = np.zeros(self.size)
        buf[self.pos] = values[self.pair_mask]
        return buf

    def views(self, buf: np.ndarray) -> list[np.ndarray]:
        """Every frame's matrix as a view into ``buf``."""
        starts, n_g, n_p = self.start.tolist(), self.n_g.tolist(), self.n_p.tolist()
        return [buf[s : s + a * b].reshape(a, b) for s, a, b in zip(starts, n_g, n_p, strict=True)]

    def frame_of_flat(self, flat_pos: np.ndarray) -> np.ndarray:
        """Slot (index into ``frames``) of flat buffer positions."""
        return np.searchsorted(self.start, flat_pos, side="right") - 1


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


_PW_BLOCK = 128
"""numpy's pairwise-summation block size (``PW_BLOCKSIZE``)."""


def pairwise_row_sums(
    row: np.ndarray, col: np.ndarray, values: np.ndarray, width: np.ndarray, num_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row sums of dense rows bit-identical to numpy's ``matrix.sum(axis=1)`` (pairwise summation).

    numpy sums a contiguous row of length ``m < 8`` left to right; for ``8 <= m <= 128`` it keeps 8 running sums
    (element j goes to sum ``j % 8`` for ``j < m - m % 8``), adds them as ``((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7))``
    and then the last ``m % 8`` elements left to right. Zeros change no partial sum, so only the nonzero entries
    (given sparse, in increasing column order per row) are needed.

    Args:
        row: ``(K,)`` row index of each nonzero entry (entries grouped by row, columns increasing).
        col: ``(K,)`` column of each entry.
        values: ``(K,)`` the entries.
        width: ``(num_rows,)`` length ``m`` of each dense row.
        num_rows: number of rows.

    Returns:
        ``(sums, exact)``: the row sums, and a mask of the rows they are exact for (rows longer than 128 are left
        to the caller).
    """
    m = width[row]
    m8 = m - m % 8
    short = m < 8
    sums = np.bincount(row[short], weights=values[short], minlength=num_rows).astype(np.float64, copy=False)
    block = ~short & (col < m8) & (m <= _PW_BLOCK)
    acc = np.bincount(row[block] * 8 + col[block] % 8, weights=values[block], minlength=num_rows * 8)
    acc = acc.astype(np.float64, copy=False)
    r = acc.reshape(num_rows, 8)
    blocked = ((r[:, 0] + r[:, 1]) + (r[:, 2] + r[:, 3])) + ((r[:, 4] + r[:, 5]) + (r[:, 6] + r[:, 7]))
    long_rows = (width >= 8) & (width <= _PW_BLOCK)
    sums[long_rows] = blocked[long_rows]
    tail = ~short & (col >= m8) & (m <= _PW_BLOCK)
    t_row, t_pos, t_val = row[tail], (col - m8)[tail], values[tail]
    for q in range(7):
        sel = t_pos == q
        sums[t_row[sel]] += t_val[sel]
    return sums, width <= _PW_BLOCK

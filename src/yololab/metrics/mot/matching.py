"""Per-frame Hungarian matching shared by CLEAR, HOTA and the MOTChallenge preprocessing.

TrackEval solves one ``linear_sum_assignment`` per frame on a dense score matrix. A frame whose candidate pairs
form a matching already (no box has two candidates) has exactly one optimal assignment - take every candidate -
so it needs no solver. Only the other ("conflict") frames are solved, and they are solved on the very matrix
TrackEval builds (same shape, row and column order and values), so ties break identically.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

__all__ = [
    "TIE_MARGIN",
    "DenseFrames",
    "FrameIndex",
    "StarConflicts",
    "conflict_frames",
    "distinct",
    "linear_sum_assignment",
    "pairwise_row_sums",
    "solve_max",
    "star_conflicts",
    "unique_inverse",
]


def _load_linear_sum_assignment() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """The ``linear_sum_assignment`` of scipy, without importing the rest of ``scipy.optimize``.

    ``scipy.optimize.linear_sum_assignment`` *is* the C function of the extension module
    ``scipy/optimize/_lsap``; importing ``scipy.optimize`` to reach it costs about 0.4 s (it loads
    ``scipy.linalg``, ``scipy.sparse``, ...), and even ``import scipy`` alone 0.03 s (its ``__init__`` loads test
    utilities, version parsing, ...); loading that one extension, found from scipy's package location without
    running its ``__init__``, about 1 ms. The same function, so the same assignments. Falls back to the public import
    when ``scipy.optimize`` is already loaded or the extension is not where scipy 1.x keeps it.
    """
    if "scipy.optimize" not in sys.modules:
        try:
            import importlib.machinery
            import importlib.util
            import os

            package = importlib.util.find_spec("scipy")
            places = [] if package is None else list(package.submodule_search_locations or [])
            folders = [os.path.join(place, "optimize") for place in places]
            spec = importlib.machinery.PathFinder.find_spec("_lsap", folders)
            if spec is not None and isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                return module.linear_sum_assignment
        except (ImportError, AttributeError, OSError):
            pass
    from scipy.optimize import linear_sum_assignment as public

    return public


linear_sum_assignment = _load_linear_sum_assignment()
"""scipy's Hungarian solver (``scipy.optimize.linear_sum_assignment``): rows, columns of a minimum-cost assignment."""


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


def distinct(values: np.ndarray, size: int | None = None) -> np.ndarray:
    """Sorted distinct values of non-negative integers below ``size`` (default: their maximum + 1).

    A presence mask, no sort - and, unlike ``np.unique``, it does not make numpy import ``numpy.ma`` (10 ms, paid by
    every process).

    Example:
        >>> distinct(np.array([4, 1, 4, 0])).tolist()
        [0, 1, 4]
    """
    if values.size == 0:
        return np.zeros(0, np.int64)
    seen = np.zeros(int(values.max()) + 1 if size is None else size, bool)
    seen[values] = True
    return np.flatnonzero(seen)


def unique_inverse(keys: np.ndarray, space: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_inverse=True)`` for non-negative integers below ``space`` (default: their maximum + 1).

    Below ``2**20`` (or four times the number of keys) a presence mask and its running count replace the sort:
    the same sorted values and the same inverse, in linear time.

    Example:
        >>> [a.tolist() for a in unique_inverse(np.array([7, 2, 7, 5]))]
        [[2, 5, 7], [2, 0, 2, 1]]
    """
    if keys.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if space is None:
        space = int(keys.max()) + 1
    if space <= max(1 << 20, 4 * keys.size):
        present = np.zeros(space, bool)
        present[keys] = True
        slot = np.cumsum(present) - 1
        return np.flatnonzero(present), slot[keys]
    uniq, inv = np.unique(keys, return_inverse=True)
    return uniq, inv.reshape(-1)


def conflict_frames(
    pair_frame: np.ndarray, pair_gt: np.ndarray, pair_pred: np.ndarray, num_gt: int, num_pred: int
) -> np.ndarray:
    """Sorted frames in which some box has two or more of the given candidate pairs."""
    deg_g = np.bincount(pair_gt, minlength=num_gt)
    deg_p = np.bincount(pair_pred, minlength=num_pred)
    busy = (deg_g[pair_gt] > 1) | (deg_p[pair_pred] > 1)
    return distinct(pair_frame[busy])


TIE_MARGIN = 1e-6
"""Smallest lead of a star's best pair over its second for the closed form (see :func:`star_conflicts`)."""


class StarConflicts:
    """The conflicts of a frame-by-frame matching, split into stars (closed form) and the rest (dense solver).

    A conflict component (candidate pairs of one frame connected through shared boxes) is a *star* when one box
    takes part in all its pairs, so at most one of them can match. With all pair scores positive, every optimal
    assignment of TrackEval's dense matrix takes each isolated pair (no shared box) and, from each component, an
    optimal matching of that component; a star's is its best pair. When that best pair leads the second by more
    than :data:`TIE_MARGIN` (scores of at most 1001, so about 1e5 times the solver's rounding), it is the only
    optimum, and ``linear_sum_assignment`` on the dense matrix returns it - whatever its tie-breaking. Frames with a
    component that is not a star, or a star whose two best pairs are that close, are left to the dense solver.

    Attributes:
        busy: ``(M,)`` bool, the pair shares a box with another pair of its frame.
        dense_frames: sorted frames to solve with the dense matrix.
        star_pairs: pairs of the stars of the other frames, star by star (frames increasing), each star's pairs by
            decreasing score (ties in pair order).
        star_start: ``(S + 1,)`` offsets of each star's pairs in ``star_pairs``.
        star_frame: ``(S,)`` frame of each star.
    """

    __slots__ = ("busy", "dense_frames", "star_frame", "star_pairs", "star_start")

    def __init__(
        self,
        busy: np.ndarray,
        dense_frames: np.ndarray,
        star_pairs: np.ndarray,
        star_start: np.ndarray,
        star_frame: np.ndarray,
    ):
        self.busy = busy
        self.dense_frames = dense_frames
        self.star_pairs = star_pairs
        self.star_start = star_start
        self.star_frame = star_frame


def star_conflicts(
    pair_frame: np.ndarray,
    pair_gt: np.ndarray,
    pair_pred: np.ndarray,
    score: np.ndarray,
    num_gt: int,
    num_pred: int,
) -> StarConflicts:
    """Classify the conflicts of the candidate pairs (see :class:`StarConflicts`).

    Args:
        pair_frame: ``(M,)`` frame of each candidate pair, non-decreasing.
        pair_gt: ``(M,)`` ground-truth row of each pair.
        pair_pred: ``(M,)`` predicted row of each pair.
        score: ``(M,)`` the pair's score without any bonus (a star with a bonus pair is decided by the caller).
        num_gt: ground-truth rows.
        num_pred: predicted rows.
    """
    deg_g = np.bincount(pair_gt, minlength=num_gt)[pair_gt]
    deg_p = np.bincount(pair_pred, minlength=num_pred)[pair_pred]
    busy = (deg_g > 1) | (deg_p > 1)
    both = (deg_g > 1) & (deg_p > 1)  # an edge between two shared boxes: not a star
    size = int(pair_frame.max()) + 1 if pair_frame.size else 0
    dense_frame = np.zeros(size, bool)
    dense_frame[pair_frame[both]] = True
    star = np.flatnonzero(busy & ~both & ~dense_frame[pair_frame])
    center = np.where(deg_g[star] > 1, pair_gt[star], num_gt + pair_pred[star])
    order = np.lexsort((-score[star], center, pair_frame[star]))
    pairs, center = star[order], center[order]
    first = np.flatnonzero(np.concatenate([[True], center[1:] != center[:-1]])) if pairs.size else np.zeros(0, np.int64)
    lead = score[pairs[first]] - score[pairs[first + 1]]  # every star has at least two pairs
    frames = pair_frame[pairs[first]]
    dense_frame[frames[lead <= TIE_MARGIN]] = True
    dense = np.flatnonzero(dense_frame)
    keep = ~dense_frame[frames]
    start = np.concatenate([first, [pairs.size]])
    sizes = np.diff(start)[keep]
    kept = np.repeat(keep, np.diff(start))
    return StarConflicts(
        busy,
        dense,
        pairs[kept],
        np.concatenate([[0], np.cumsum(sizes)]),
        frames[keep],
    )


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

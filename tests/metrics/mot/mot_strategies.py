"""Hypothesis strategies for random tracking sequences with the hard cases of MOT evaluation.

Coarse integer boxes make exact ties in IoU (and so in the Hungarian matchings) common, which is where an
implementation that differs from TrackEval's order of operations would show.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from yololab.metrics.mot import Frames, MOTSequence


def _boxes(rng: np.random.Generator, n: int, grid: bool) -> np.ndarray:
    if grid:
        xy = rng.integers(0, 8, size=(n, 2)).astype(float)
        wh = rng.integers(1, 5, size=(n, 2)).astype(float)
    else:
        xy = rng.uniform(0, 20, size=(n, 2))
        wh = rng.uniform(0.5, 8, size=(n, 2))
    return np.concatenate([xy, wh], axis=1)


def random_sequence(seed: int, *, name: str, classes: tuple[int, ...], grid: bool) -> MOTSequence:
    """One sequence: tracks with gaps, ID swaps, empty frames, frames without predictions, false positives."""
    rng = np.random.default_rng(seed)
    num_frames = int(rng.integers(1, 14))
    n_tracks = int(rng.integers(0, 7))
    gt_rows, pred_rows = [], []
    start = _boxes(rng, n_tracks, grid)
    velocity = rng.integers(-1, 2, size=(n_tracks, 2)).astype(float)
    track_cls = rng.choice(classes, size=n_tracks)
    pred_id = rng.permutation(n_tracks + 5)[:n_tracks] + 1
    blank_pred_frames = set(rng.choice(num_frames, size=rng.integers(0, 3), replace=True).tolist())
    blank_gt_frames = set(rng.choice(num_frames, size=rng.integers(0, 2), replace=True).tolist())
    next_fp_id = 100
    for t in range(num_frames):
        if n_tracks >= 2 and rng.random() < 0.15:  # ID swap between two tracks from now on
            a, b = rng.choice(n_tracks, 2, replace=False)
            pred_id[[a, b]] = pred_id[[b, a]]
        for k in range(n_tracks):
            if t in blank_gt_frames or rng.random() < 0.2:
                continue
            box = start[k] + np.concatenate([velocity[k] * t, [0.0, 0.0]])
            conf = 0 if rng.random() < 0.1 else 1  # zero-marked ground truth
            gt_rows.append([t + 1, k + 1, *box, conf, track_cls[k], 1.0])
            if t in blank_pred_frames or rng.random() < 0.2:
                continue
            noise = rng.integers(-1, 2, size=4) if grid else rng.normal(0, 0.7, size=4)
            pbox = box + noise
            pbox[2:] = np.maximum(pbox[2:], 1.0)
            cls = track_cls[k] if rng.random() < 0.9 else rng.choice(classes)
            pred_rows.append([t + 1, pred_id[k], *pbox, rng.random(), cls, -1])
        if t not in blank_pred_frames:
            for _ in range(int(rng.integers(0, 3))):  # false positives, sometimes on top of others
                next_fp_id += 1
                fp_id = next_fp_id if rng.random() < 0.6 else 100 + int(rng.integers(1, 4))
                if any(r[0] == t + 1 and r[1] == fp_id for r in pred_rows):
                    continue
                pred_rows.append([t + 1, fp_id, *_boxes(rng, 1, grid)[0], rng.random(), rng.choice(classes), -1])
    rng.shuffle(gt_rows)  # row order within a frame is arbitrary in files
    gt = Frames.from_rows(np.array(gt_rows).reshape(-1, 9)) if gt_rows else Frames.empty()
    pred = Frames.from_rows(np.array(pred_rows).reshape(-1, 9)) if pred_rows else Frames.empty()
    if len(gt) == 0:
        gt = Frames(np.zeros(0), np.zeros(0), np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), np.zeros(0))
    if len(pred) == 0:
        pred = Frames(np.zeros(0), np.zeros(0), np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), np.zeros(0))
    return MOTSequence(name, gt, pred, num_frames)


@st.composite
def sequences(draw, *, classes: tuple[int, ...] = (1,), max_sequences: int = 3) -> list[MOTSequence]:
    """A list of random sequences."""
    n = draw(st.integers(1, max_sequences))
    grid = draw(st.booleans())
    seeds = draw(st.lists(st.integers(0, 2**32 - 1), min_size=n, max_size=n))
    return [random_sequence(s, name=f"seq{i}", classes=classes, grid=grid) for i, s in enumerate(seeds)]

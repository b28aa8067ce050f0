"""Randomized parity with TrackEval (hypothesis): every count equal, every ratio within 1e-9."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from mot_strategies import sequences

from mot_oracle import assert_same, run_trackeval_folder, trackeval_sequences
from yololab.metrics.mot import MOTSequence, evaluate_mot

pytestmark = pytest.mark.oracle


def _check_metric_parity(seqs: list[MOTSequence], classes: tuple[int, ...]) -> None:
    ours = evaluate_mot(seqs, benchmark="none", classes=classes if len(classes) > 1 else None)
    ref = trackeval_sequences(seqs, list(classes) if len(classes) > 1 else None)
    for cls_ref, per_seq in ref["per_class"].items():
        cls = classes[0] if cls_ref is None else cls_ref
        for name, res in per_seq.items():
            assert_same(ours.per_class[cls][name], res, where=f"{name}/{cls}")
        assert_same(ours.combined_per_class[cls], ref["combined"][cls_ref], where=f"combined/{cls}")
    if len(classes) > 1:
        assert_same(ours.class_averaged, ref["cls_av"], where="class averaged")
        assert_same(ours.detection_averaged, ref["det_av"], where="detection averaged")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seqs=sequences(classes=(1,)))
def test_single_class_matches_trackeval(seqs: list[MOTSequence]) -> None:
    _check_metric_parity(seqs, (1,))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seqs=sequences(classes=(1, 2, 3)))
def test_multi_class_matches_trackeval(seqs: list[MOTSequence]) -> None:
    _check_metric_parity(seqs, (1, 2, 3))


def _write(root: Path, seqs: list[MOTSequence]) -> tuple[Path, Path]:
    gt_root, tr_root = root / "gt", root / "trackers"
    (tr_root / "t").mkdir(parents=True)
    for s in seqs:
        (gt_root / s.name / "gt").mkdir(parents=True)
        g, p = s.gt, s.pred
        gt_rows = np.column_stack([g.frame, g.ids, g.boxes_xywh, g.confidence, g.classes, g.visibility])
        pr_rows = np.column_stack([p.frame, p.ids, p.boxes_xywh, p.confidence, -np.ones((len(p), 3))])
        np.savetxt(gt_root / s.name / "gt" / "gt.txt", gt_rows, fmt="%.17g", delimiter=",")
        np.savetxt(tr_root / "t" / f"{s.name}.txt", pr_rows, fmt="%.17g", delimiter=",")
        (gt_root / s.name / "seqinfo.ini").write_text(f"[Sequence]\nname={s.name}\nseqLength={s.num_frames}\n")
    return gt_root, tr_root


@pytest.mark.parametrize("benchmark", ["MOT17", "MOT20"])
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(seqs=sequences(classes=(1, 1, 1, 2, 6, 7, 8, 12, 3)))
def test_motchallenge_preprocessing_matches_trackeval(tmp_path_factory, benchmark: str, seqs) -> None:
    """Files through TrackEval's own loader and preprocessing (distractors, zero-marked) vs ours."""
    from yololab.metrics.mot.motchallenge import load_benchmark

    root = tmp_path_factory.mktemp("mot")
    gt_root, tr_root = _write(root, seqs)
    ref = run_trackeval_folder(
        gt_root, tr_root, {s.name: s.num_frames for s in seqs}, benchmark=benchmark, preproc=True
    )
    folder = load_benchmark(gt_root, tr_root / "t")
    ours = evaluate_mot(folder.sequences, benchmark=benchmark, origins=folder.origins)
    for s in seqs:
        assert_same(ours.sequences()[s.name], ref[s.name], where=s.name)
    assert_same(ours.combined(), ref["COMBINED_SEQ"], where="combined")

"""``evaluate_benchmark``: the same numbers as ``load_benchmark`` + ``evaluate_mot``, for every ``jobs``, bit for bit.

Also: several trackers with the ground truth read once, the errors and warnings a one-process run gives (first
error in sequence order, warnings in order), worker processes started with ``spawn``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from mot_strategies import random_sequence, sequences

from yololab.metrics.mot import MOTDataError, MOTSequence, evaluate_mot, motchallenge
from yololab.metrics.mot.batch import evaluate_benchmark, tracker_names
from yololab.metrics.mot.motchallenge import MOTDataWarning, load_benchmark

pytestmark = pytest.mark.quick


def _write(
    root: Path, seqs: list[MOTSequence], *, tracker: str = "t", copies: int = 1, pred_classes: bool = False
) -> tuple[Path, Path]:
    """MOTChallenge layout; with ``copies`` > 1 each sequence's ground truth is written again as ``<name>-c<k>``
    (byte for byte, like MOT17's detector variants), with the same predictions. Prediction classes are -1
    (MOTChallenge result files) unless ``pred_classes``."""
    gt_root, pred_root = root / "gt", root / tracker
    pred_root.mkdir(parents=True, exist_ok=True)
    for s in seqs:
        g, p = s.gt, s.pred
        gt_rows = np.column_stack([g.frame, g.ids, g.boxes_xywh, g.confidence, g.classes, g.visibility])
        cls = p.classes if pred_classes else -np.ones(len(p))
        pr_rows = np.column_stack([p.frame, p.ids, p.boxes_xywh, p.confidence, cls, -np.ones((len(p), 2))])
        for k in range(copies):
            name = s.name if k == 0 else f"{s.name}-c{k}"
            (gt_root / name / "gt").mkdir(parents=True, exist_ok=True)
            np.savetxt(gt_root / name / "gt" / "gt.txt", gt_rows, fmt="%.17g", delimiter=",")
            np.savetxt(pred_root / f"{name}.txt", pr_rows, fmt="%.17g", delimiter=",")
            (gt_root / name / "seqinfo.ini").write_text(f"[Sequence]\nname={name}\nseqLength={s.num_frames}\n")
    return gt_root, pred_root


def _dump(result) -> str:
    """Every number of an evaluation (repr of each float: equal strings are equal bits)."""
    return json.dumps(result.to_dict(), sort_keys=True)


def _reference(gt_root: Path, pred_root: Path, **kw) -> str:
    folder = load_benchmark(gt_root, pred_root)
    return _dump(evaluate_mot(folder.sequences, origins=folder.origins, **kw))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(seqs=sequences(classes=(1, 1, 2, 7, 8), max_sequences=4))
def test_same_numbers_as_evaluate_mot(tmp_path_factory, seqs: list[MOTSequence]) -> None:
    """MOT17 preprocessing, automatic classes and explicit classes; the in-process path (jobs=1)."""
    root = tmp_path_factory.mktemp("b")
    gt_root, plain = _write(root, seqs, copies=2)
    _, classed = _write(root, seqs, copies=2, tracker="c", pred_classes=True)
    runs = [
        (plain, {"benchmark": "MOT17"}),
        (plain, {"benchmark": "none"}),
        (classed, {"benchmark": "none"}),
        (classed, {"benchmark": "none", "classes": [1, 2]}),
    ]
    for pred_root, kw in runs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MOTDataWarning)
            ours = evaluate_benchmark(gt_root, {"t": pred_root}, jobs=1, **kw)["t"]
            assert _dump(ours) == _reference(gt_root, pred_root, **kw), kw


def _folder(tmp_path: Path, n: int = 7, copies: int = 3, pred_classes: bool = False) -> tuple[Path, Path]:
    seqs = [random_sequence(100 + i, name=f"s{i}", classes=(1, 2), grid=i % 2 == 0) for i in range(n)]
    return _write(tmp_path, seqs, copies=copies, pred_classes=pred_classes)


@pytest.mark.parametrize("kw", [{"benchmark": "MOT17"}, {"benchmark": "none"}], ids=["MOT17", "auto-classes"])
def test_jobs_2_equals_jobs_1_bit_for_bit(tmp_path: Path, kw: dict) -> None:
    gt_root, pred_root = _folder(tmp_path, pred_classes=kw["benchmark"] == "none")
    one = evaluate_benchmark(gt_root, [pred_root], jobs=1, **kw)["t"]
    two = evaluate_benchmark(gt_root, [pred_root], jobs=2, **kw)["t"]
    three = evaluate_benchmark(gt_root, [pred_root], jobs=3, **kw)["t"]
    assert _dump(one) == _dump(two) == _dump(three) == _reference(gt_root, pred_root, **kw)
    assert list(one.sequences()) == list(two.sequences()) == sorted(p.name for p in gt_root.iterdir())
    assert one.combined().clear.counts.tp > 0


def test_spawned_workers_give_the_same_numbers(tmp_path: Path) -> None:
    gt_root, pred_root = _folder(tmp_path, n=3, copies=2)
    one = evaluate_benchmark(gt_root, [pred_root], benchmark="MOT17", jobs=1)["t"]
    spawned = evaluate_benchmark(gt_root, [pred_root], benchmark="MOT17", jobs=2, start_method="spawn")["t"]
    assert _dump(one) == _dump(spawned)


def test_identical_ground_truth_is_parsed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gt_root, pred_root = _folder(tmp_path, n=2, copies=3)  # 6 sequences, 2 distinct ground truths
    pred_b = tmp_path / "b"
    pred_b.mkdir()
    for f in pred_root.iterdir():
        (pred_b / f.name).write_bytes(f.read_bytes())
    parsed: list[str] = []
    real = motchallenge.frames_from_bytes

    def counting(path, data):
        parsed.append(Path(path).parent.parent.name if path.name == "gt.txt" else path.name)
        return real(path, data)

    monkeypatch.setattr(motchallenge, "frames_from_bytes", counting)
    results = evaluate_benchmark(gt_root, [pred_root, pred_b], benchmark="MOT17", jobs=1)
    gt_parses = [p for p in parsed if not p.endswith(".txt")]
    assert sorted(gt_parses) == ["s0", "s1"]  # one parse per distinct file, read once for both trackers
    assert len(parsed) - len(gt_parses) == 12  # every result file of both trackers
    assert list(results) == ["t", "b"] and _dump(results["t"]) == _dump(results["b"])


def test_several_trackers_each_equal_their_own_evaluation(tmp_path: Path) -> None:
    seqs_a = [random_sequence(7 + i, name=f"s{i}", classes=(1,), grid=False) for i in range(3)]
    gt_root, pred_a = _write(tmp_path, seqs_a, tracker="alpha")
    pred_b = tmp_path / "beta"
    pred_b.mkdir()
    for s in seqs_a:  # other predictions on the same ground truth: shifted boxes, other ids
        p = s.pred
        boxes = p.boxes_xywh + np.array([1.3, -0.4, 0.5, 0.0])
        rows = np.column_stack([p.frame, (p.ids * 7) % 11 + p.ids * 11, boxes, p.confidence, -np.ones((len(p), 3))])
        np.savetxt(pred_b / f"{s.name}.txt", rows, fmt="%.17g", delimiter=",")
    results = evaluate_benchmark(gt_root, [pred_a, pred_b], benchmark="MOT17", jobs=2)
    assert list(results) == ["alpha", "beta"]
    assert _dump(results["alpha"]) == _reference(gt_root, pred_a, benchmark="MOT17")
    assert _dump(results["beta"]) == _reference(gt_root, pred_b, benchmark="MOT17")


def _broken_folder(tmp_path: Path, pred_classes: bool = False) -> tuple[Path, Path]:
    gt_root, pred_root = _folder(tmp_path, n=4, copies=1, pred_classes=pred_classes)
    (gt_root / "s1" / "seqinfo.ini").unlink()  # a warning in s1
    (pred_root / "s3.txt").unlink()  # a warning in s3
    rows = (pred_root / "s2.txt").read_text().splitlines()
    (pred_root / "s2.txt").write_text("\n".join([rows[0], rows[0], *rows[1:]]) + "\n")  # duplicate id: s2 fails
    return gt_root, pred_root


@pytest.mark.parametrize("jobs", [1, 2])
def test_first_error_and_warnings_as_one_process_meets_them(tmp_path: Path, jobs: int) -> None:
    gt_root, pred_root = _broken_folder(tmp_path)
    with warnings.catch_warnings(record=True) as ref_warnings:
        warnings.simplefilter("always")
        with pytest.raises(MOTDataError) as ref_error:
            _reference(gt_root, pred_root, benchmark="MOT17")
    with warnings.catch_warnings(record=True) as ours_warnings:
        warnings.simplefilter("always")
        with pytest.raises(MOTDataError) as ours_error:
            evaluate_benchmark(gt_root, [pred_root], benchmark="MOT17", jobs=jobs)
    assert str(ours_error.value) == str(ref_error.value)
    assert "s2.txt, line 2: id" in str(ours_error.value)
    assert [str(w.message) for w in ours_warnings] == [str(w.message) for w in ref_warnings]
    assert len(ref_warnings) == 1 and "seqinfo.ini: not found" in str(ref_warnings[0].message)


@pytest.mark.parametrize("jobs", [1, 2])
def test_read_errors_win_over_earlier_evaluation_errors_with_found_classes(tmp_path: Path, jobs: int) -> None:
    """Automatic classes read every file before evaluating (as ``evaluate_mot``): a bad file later wins."""
    gt_root, pred_root = _broken_folder(tmp_path, pred_classes=True)
    (pred_root / "s3.txt").write_text("1,2,3\n")  # too few columns: a read error after s2's evaluation error
    with warnings.catch_warnings(record=True) as ref_warnings:
        warnings.simplefilter("always")
        with pytest.raises(MOTDataError) as ref_error:
            _reference(gt_root, pred_root, benchmark="none")
    with warnings.catch_warnings(record=True) as ours_warnings:
        warnings.simplefilter("always")
        with pytest.raises(MOTDataError) as ours_error:
            evaluate_benchmark(gt_root, [pred_root], benchmark="none", jobs=jobs)
    assert str(ours_error.value) == str(ref_error.value) and "s3.txt, line 1: 3 columns" in str(ours_error.value)
    assert [str(w.message) for w in ours_warnings] == [str(w.message) for w in ref_warnings]


def test_warnings_equal_one_process_run(tmp_path: Path) -> None:
    gt_root, pred_root = _folder(tmp_path, n=4, copies=2)
    (gt_root / "s1" / "seqinfo.ini").unlink()
    (pred_root / "s3-c1.txt").unlink()
    (pred_root / "s0.txt").write_text("")
    with warnings.catch_warnings(record=True) as ref:
        warnings.simplefilter("always")
        expected = _reference(gt_root, pred_root, benchmark="MOT17")
    for jobs in (1, 2):
        with warnings.catch_warnings(record=True) as ours:
            warnings.simplefilter("always")
            got = _dump(evaluate_benchmark(gt_root, [pred_root], benchmark="MOT17", jobs=jobs)["t"])
        assert got == expected
        assert [(w.category, str(w.message)) for w in ours] == [(w.category, str(w.message)) for w in ref]
    assert len(ref) == 3


def test_duplicate_sequence_in_seqmap_is_an_error(tmp_path: Path) -> None:
    gt_root, pred_root = _folder(tmp_path, n=2, copies=1)
    seqmap = tmp_path / "map.txt"
    seqmap.write_text("name\ns0\ns1\ns0\n")
    with pytest.raises(MOTDataError, match="sequence 's0' appears twice"):
        evaluate_benchmark(gt_root, [pred_root], seqmap=seqmap, benchmark="MOT17", jobs=2)


def test_tracker_names(tmp_path: Path) -> None:
    (tmp_path / "a" / "data").mkdir(parents=True)
    (tmp_path / "x" / "a").mkdir(parents=True)
    assert list(tracker_names([tmp_path / "a" / "data", tmp_path / "b"])) == ["a", "b"]
    with pytest.raises(MOTDataError, match="two trackers named 'a'"):
        tracker_names([tmp_path / "a", tmp_path / "x" / "a"])


def _mot17_dir() -> Path:
    import os

    env = os.environ.get("YOLOLAB_MOT17_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "mot17"


@pytest.mark.mot17
@pytest.mark.slow
def test_mot17_jobs_2_equals_jobs_1_and_evaluate_mot() -> None:
    root = _mot17_dir()
    if not (root / "MOT17" / "train").is_dir():
        pytest.skip(f"MOT17 data not found at {root} (set YOLOLAB_MOT17_DIR)")
    gt, pred, seqmap = root / "MOT17" / "train", root / "trackers" / "MPNTrack", root / "MOT17/seqmaps/MOT17-train.txt"
    one = evaluate_benchmark(gt, [pred], seqmap=seqmap, benchmark="MOT17", jobs=1)["MPNTrack"]
    two = evaluate_benchmark(gt, [pred], seqmap=seqmap, benchmark="MOT17", jobs=2)["MPNTrack"]
    folder = load_benchmark(gt, pred, seqmap=seqmap)
    ref = evaluate_mot(folder.sequences, benchmark="MOT17", origins=folder.origins)
    assert _dump(one) == _dump(two) == _dump(ref)
    assert round(one.combined().hota.hota.mean() * 100, 3) == 61.904


def test_errors_name_the_first_bad_line_of_the_file_although_rows_are_sorted_by_frame(tmp_path: Path) -> None:
    """Ground truth is sorted by frame when read; an error still names the first bad line in file order."""
    seq = tmp_path / "gt" / "s"
    (seq / "gt").mkdir(parents=True)
    (seq / "gt" / "gt.txt").write_text(
        "2,1,0,0,10,10,1,1,1\n9,1,0,0,10,10,1,1,1\n1,2,0,0,10,10,1,1,1\n0,2,0,0,10,10,1,1,1\n"
    )
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=s\nseqLength=3\n")
    (tmp_path / "pred").mkdir()
    for jobs in (1, 2):
        with pytest.raises(MOTDataError, match=r"gt\.txt, line 2: frame 9 is outside the sequence"):
            evaluate_benchmark(tmp_path / "gt", [tmp_path / "pred"], benchmark="none", jobs=jobs)
    frames, origin = motchallenge.GroundTruthReader().read(seq / "gt" / "gt.txt")
    assert frames.frame.tolist() == [0, 1, 2, 9] and origin.lines.tolist() == [4, 3, 1, 2]
    assert not frames.boxes_xywh.flags.writeable  # shared by sequences with the same bytes

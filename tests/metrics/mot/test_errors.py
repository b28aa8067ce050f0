"""Every bad-input case gives a clear error (file, line, what was expected) or a warning; nothing is dropped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from yololab.metrics.mot import MOTDataError, evaluate_mot, sequence_from_rows
from yololab.metrics.mot.motchallenge import MOTDataWarning, load_benchmark, read_mot_file, read_seqinfo

pytestmark = pytest.mark.quick

GOOD_GT = "1,1,10,10,20,40,1,1,1\n2,1,12,10,20,40,1,1,1\n"
GOOD_PRED = "1,5,10,10,20,40,0.9,-1,-1,-1\n2,5,12,10,20,40,0.9,-1,-1,-1\n"


def _layout(root: Path, gt: str = GOOD_GT, pred: str | None = GOOD_PRED, *, length: int | None = 2) -> Path:
    seq = root / "gt" / "seq-A"
    (seq / "gt").mkdir(parents=True)
    (seq / "gt" / "gt.txt").write_text(gt)
    if length is not None:
        (seq / "seqinfo.ini").write_text(f"[Sequence]\nname=seq-A\nseqLength={length}\n")
    (root / "pred").mkdir()
    if pred is not None:
        (root / "pred" / "seq-A.txt").write_text(pred)
    return root


def _evaluate(root: Path, benchmark: str = "none"):
    folder = load_benchmark(root / "gt", root / "pred")
    return evaluate_mot(folder.sequences, benchmark=benchmark, origins=folder.origins)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("1,1,10,10,20,40,1,1,1\n2,1,12,10,20,40,1,1\n", r"gt\.txt, line 2: 8 columns; expected 9"),
        ("1,1,10,10,20\n", r"gt\.txt, line 1: 5 columns; expected at least 6"),
        ("1,1,10,10,20,40,1,1,1\n2,1,abc,10,20,40,1,1,1\n", r"line 2, column 3: 'abc' is not a number"),
        ("1,1,10,10,20,40,1,1,1\n2,1,nan,10,20,40,1,1,1\n", r"line 2, column 3: nan; expected a finite number"),
        ("1,1,10,10,20,40,1,1,1\n1.5,1,10,10,20,40,1,1,1\n", r"line 2: frame number 1.5; expected an integer"),
        ("1,1,10,10,20,40,1,1,1\n2,2.5,10,10,20,40,1,1,1\n", r"line 2: id 2.5; expected an integer"),
        ("1,1,10,10,20,40,1,1,1\n2,1,10,10,20,40,1,1,x\n", r"line 2, column 9: 'x' is not a number"),
        ("1,1,10,10,20,40,1,1,1\n2,1,10,10,20,40,1,1,inf\n", r"line 2, column 9: inf; expected a finite number"),
        ("1,1,10,10,20,40,1,1,1\n2,1,10,10,20,40,1,1,-\n", r"line 2, column 9: '-' is not a number"),
    ],
    ids=[
        "column-count",
        "too-few-columns",
        "non-numeric",
        "nan",
        "fractional-frame",
        "fractional-id",
        "visibility-non-numeric",
        "visibility-infinite",
        "visibility-lone-minus",
    ],
)
def test_unparsable_rows_name_file_line_and_expectation(tmp_path: Path, text: str, pattern: str) -> None:
    path = tmp_path / "gt.txt"
    path.write_text(text)
    with pytest.raises(MOTDataError, match=pattern):
        read_mot_file(path)


@pytest.mark.parametrize(
    ("gt", "pattern"),
    [
        ("1,1,10,10,0,40,1,1,1\n", r"gt\.txt, line 1: width 0 and height 40; expected both > 0"),
        ("1,1,10,10,20,-4,1,1,1\n", r"gt\.txt, line 1: width 20 and height -4; expected both > 0"),
        (
            "1,1,10,10,20,40,1,1,1\n\n1,1,30,10,20,40,1,1,1\n",
            r"gt\.txt, line 3: id 1 appears twice in frame 1 "
            r"\(first at line 1\)",
        ),
        (
            "1,1,10,10,20,40,1,1,1\n3,1,10,10,20,40,1,1,1\n",
            r"gt\.txt, line 2: frame 3 is outside the sequence; "
            r"expected 1\.\.2",
        ),
        ("0,1,10,10,20,40,1,1,1\n", r"line 1: frame 0 is outside the sequence"),
        ("1,-3,10,10,20,40,1,1,1\n", r"line 1: id -3; expected an id >= 0"),
    ],
    ids=["zero-width", "negative-height", "duplicate-id", "frame-past-end", "frame-zero", "negative-id"],
)
def test_invalid_boxes_name_file_and_line(tmp_path: Path, gt: str, pattern: str) -> None:
    with pytest.raises(MOTDataError, match=pattern):
        _evaluate(_layout(tmp_path, gt=gt))


def test_duplicate_prediction_id_names_result_file(tmp_path: Path) -> None:
    pred = "1,5,10,10,20,40,0.9,-1,-1,-1\n1,5,50,10,20,40,0.9,-1,-1,-1\n"
    with pytest.raises(MOTDataError, match=r"seq-A\.txt, line 2: id 5 appears twice in frame 1"):
        _evaluate(_layout(tmp_path, pred=pred))


def test_result_file_for_unknown_sequence_is_an_error(tmp_path: Path) -> None:
    root = _layout(tmp_path)
    (root / "pred" / "seq-B.txt").write_text(GOOD_PRED)
    with pytest.raises(MOTDataError, match=r"seq-B\.txt: result file for sequence 'seq-B', which is not in the"):
        _evaluate(root)


def test_missing_result_file_warns_and_counts_all_missed(tmp_path: Path) -> None:
    root = _layout(tmp_path, pred=None)
    with pytest.warns(MOTDataWarning, match=r"no result file for sequence 'seq-A'; evaluated as empty"):
        result = _evaluate(root)
    scores = result.combined()
    assert scores.clear.counts.fn == 2 and scores.clear.counts.tp == 0 and scores.hota.deta[0] == 0


def test_missing_seqinfo_warns_and_uses_last_frame(tmp_path: Path) -> None:
    root = _layout(tmp_path, length=None)
    with pytest.warns(MOTDataWarning, match=r"seqinfo\.ini: not found; sequence length taken from the data: 2"):
        result = _evaluate(root)
    assert result.combined().clear.counts.tp == 2


def test_empty_result_file_warns(tmp_path: Path) -> None:
    with pytest.warns(MOTDataWarning, match=r"seq-A\.txt: empty file"):
        result = _evaluate(_layout(tmp_path, pred=""))
    assert result.combined().clear.counts.fn == 2


def test_bad_seqinfo_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "seqinfo.ini"
    path.write_text("[Sequence]\nname=x\nseqLength=abc\n")
    with pytest.raises(MOTDataError, match=r"seqinfo\.ini: seqLength='abc'; expected a positive integer"):
        read_seqinfo(path)
    path.write_text("[Sequence]\nname=x\n")
    with pytest.raises(MOTDataError, match=r"no seqLength in section \[Sequence\]"):
        read_seqinfo(path)


def test_seqmap_sequence_without_ground_truth_is_an_error(tmp_path: Path) -> None:
    root = _layout(tmp_path)
    seqmap = root / "map.txt"
    seqmap.write_text("name\nseq-A\nseq-Z\n")
    with pytest.raises(MOTDataError, match=r"map\.txt: sequence 'seq-Z' has no .*gt\.txt"):
        load_benchmark(root / "gt", root / "pred", seqmap=seqmap)


def test_motchallenge_class_checks(tmp_path: Path) -> None:
    with pytest.raises(MOTDataError, match=r"gt\.txt, line 1: class 14; expected a MOTChallenge class 1\.\.13"):
        _evaluate(_layout(tmp_path / "a", gt="1,1,10,10,20,40,1,14,1\n"), benchmark="MOT17")
    pred = "1,5,10,10,20,40,0.9,3,-1,-1\n"
    with pytest.raises(MOTDataError, match=r"seq-A\.txt, line 1: class 3 in a MOTChallenge result"):
        _evaluate(_layout(tmp_path / "b", pred=pred), benchmark="MOT17")


def test_in_memory_rows_name_sequence_and_row() -> None:
    gt = np.array([[1, 1, 0, 0, 10, 10], [1, 1, 5, 5, 10, 10]])
    seq = sequence_from_rows("cam-3", gt, gt[:1], num_frames=1)
    with pytest.raises(
        MOTDataError, match=r"cam-3 ground truth, row 1: id 1 appears twice in frame 1 \(first at row 0\)"
    ):
        evaluate_mot([seq])


def test_multi_class_needs_prediction_classes() -> None:
    gt = np.array([[1, 1, 0, 0, 10, 10, 1, 1], [1, 2, 5, 5, 10, 10, 1, 2]])
    seq = sequence_from_rows("s", gt, gt[:, :6], num_frames=1)
    with pytest.raises(MOTDataError, match=r"s predictions: predictions have no class column"):
        evaluate_mot([seq], classes=[1, 2])


@pytest.mark.parametrize(
    "text",
    [
        "[Sequence]\nname=x\nseqLength=12\nframeRate=30\n",
        "; comment\n[Sequence]\nname = x\nSEQLENGTH : 12\n\n[Other]\nseqLength=3\n",
        "[DEFAULT]\nseqLength=12\n[Sequence]\nname=x\n",  # configparser: defaults apply to every section
        "[Sequence]\nname=%(other)s\nother=x\nseqLength=12\n",  # interpolation (configparser)
    ],
)
def test_seqinfo_reads_as_configparser_does(tmp_path: Path, text: str) -> None:
    import configparser

    path = tmp_path / "seqinfo.ini"
    path.write_text(text)
    ini = configparser.ConfigParser()
    ini.read_string(text)
    info = read_seqinfo(path)
    assert info.seq_length == int(ini.get("Sequence", "seqLength").split()[0]) and info.name == ini.get(
        "Sequence", "name"
    )


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("[Sequence]\nseqLength=1\nseqLength=2\n", "not a valid seqinfo.ini"),  # duplicate option
        ("seqLength=5\n", "not a valid seqinfo.ini"),  # no section header
        ("[Sequence]\nname=%bad\nseqLength=5\n", "not a valid seqinfo.ini"),  # bad interpolation
        ("[Other]\nseqLength=5\n", r"no seqLength in section \[Sequence\]"),
        ("[Sequence]\nseqLength=12\n  continued\n", r"seqLength='12\\ncontinued'; expected a positive integer"),
    ],
)
def test_bad_seqinfo_errors_as_configparser_does(tmp_path: Path, text: str, pattern: str) -> None:
    path = tmp_path / "seqinfo.ini"
    path.write_text(text)
    with pytest.raises(MOTDataError, match=pattern):
        read_seqinfo(path)

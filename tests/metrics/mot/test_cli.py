"""``yololab eval-mot`` end to end on a tiny folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from yololab.cli import app

pytestmark = pytest.mark.quick


def test_eval_mot_writes_json_and_csv(tmp_path: Path) -> None:
    seq = tmp_path / "gt" / "cam-1"
    (seq / "gt").mkdir(parents=True)
    (seq / "gt" / "gt.txt").write_text("1,1,0,0,10,10,1,1,1\n2,1,1,0,10,10,1,1,1\n2,2,50,50,10,10,1,1,1\n")
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=cam-1\nseqLength=2\n")
    (tmp_path / "pred").mkdir()
    (tmp_path / "pred" / "cam-1.txt").write_text("1,7,0,0,10,10,0.9,-1,-1,-1\n2,7,1,0,10,10,0.9,-1,-1,-1\n")
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    result = CliRunner().invoke(
        app,
        [
            "eval-mot",
            "--gt",
            str(tmp_path / "gt"),
            "--pred",
            str(tmp_path / "pred"),
            "--json",
            str(out_json),
            "--csv",
            str(out_csv),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "COMBINED" in result.output and "cam-1" in result.output
    data = json.loads(out_json.read_text())
    assert set(data) == {"combined", "sequences"} and set(data["sequences"]) == {"cam-1"}
    combined = data["combined"]
    assert combined["fn"] == 1 and combined["tp"] == 2 and combined["mota"] == pytest.approx(2 / 3)
    for key in (
        "mota",
        "motp",
        "idf1",
        "id_switches",
        "id_precision",
        "id_recall",
        "frag",
        "mt",
        "ml",
        "pt",
        "hota",
        "deta",
        "assa",
        "loca",
        "gt_tracks",
        "pred_tracks",
        "fp",
        "fn",
        "hota0",
        "loca0",
    ):
        assert key in combined
    assert len(combined["hota_alpha"]) == 19
    assert out_csv.read_text().splitlines()[0].startswith("sequence,")


def test_eval_mot_reports_bad_input_with_exit_code_2(tmp_path: Path) -> None:
    seq = tmp_path / "gt" / "cam-1"
    (seq / "gt").mkdir(parents=True)
    (seq / "gt" / "gt.txt").write_text("1,1,0,0,10,10,1,1,1\n1,1,5,0,10,10,1,1,1\n")
    (tmp_path / "pred").mkdir()
    result = CliRunner().invoke(app, ["eval-mot", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred")])
    assert result.exit_code == 2
    assert "id 1 appears twice in frame 1" in result.output

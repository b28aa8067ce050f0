"""``yololab eval-mot`` end to end on a tiny folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from yololab.cli import app

pytestmark = pytest.mark.quick


def _one_sequence(root: Path, name: str, gt_rows: str, pred_rows: str) -> None:
    """``root/gt/<name>`` (ground truth and seqinfo.ini, 2 frames) and ``root/pred/<name>.txt``."""
    seq = root / "gt" / name
    (seq / "gt").mkdir(parents=True)
    (seq / "gt" / "gt.txt").write_text(gt_rows)
    (seq / "seqinfo.ini").write_text(f"[Sequence]\nname={name}\nseqLength=2\n")
    (root / "pred").mkdir()
    (root / "pred" / f"{name}.txt").write_text(pred_rows)


def test_eval_mot_writes_json_and_csv(tmp_path: Path) -> None:
    _one_sequence(
        tmp_path,
        "cam-1",
        "1,1,0,0,10,10,1,1,1\n2,1,1,0,10,10,1,1,1\n2,2,50,50,10,10,1,1,1\n",
        "1,7,0,0,10,10,0.9,-1,-1,-1\n2,7,1,0,10,10,0.9,-1,-1,-1\n",
    )
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


def _tiny_layout(root: Path, trackers: dict[str, str]) -> tuple[Path, Path]:
    """Two sequences and the given trackers (name -> result rows for both sequences) in ``root/trackers``."""
    for name in ("cam-1", "cam-2"):
        seq = root / "gt" / name
        (seq / "gt").mkdir(parents=True)
        (seq / "gt" / "gt.txt").write_text("1,1,0,0,10,10,1,1,1\n2,1,1,0,10,10,1,1,1\n2,2,50,50,10,10,1,1,1\n")
        (seq / "seqinfo.ini").write_text(f"[Sequence]\nname={name}\nseqLength=2\n")
        for tracker, rows in trackers.items():
            (root / "trackers" / tracker).mkdir(parents=True, exist_ok=True)
            (root / "trackers" / tracker / f"{name}.txt").write_text(rows)
    return root / "gt", root / "trackers"


GOOD = "1,7,0,0,10,10,0.9,-1,-1,-1\n2,7,1,0,10,10,0.9,-1,-1,-1\n2,8,50,50,10,10,0.9,-1,-1,-1\n"
HALF = "1,7,0,0,10,10,0.9,-1,-1,-1\n2,7,1,0,10,10,0.9,-1,-1,-1\n"
SWAP = "1,7,0,0,10,10,0.9,-1,-1,-1\n2,9,1,0,10,10,0.9,-1,-1,-1\n2,8,50,50,10,10,0.9,-1,-1,-1\n"


@pytest.mark.parametrize("as_folder", [False, True], ids=["pred-several-times", "folder-of-trackers"])
def test_several_trackers_ranked_and_keyed_by_tracker(tmp_path: Path, as_folder: bool) -> None:
    gt, trackers = _tiny_layout(tmp_path, {"half": HALF, "good": GOOD, "swap": SWAP})
    each = [a for t in ("half", "good", "swap") for a in ("--pred", str(trackers / t))]
    preds = ["--pred", str(trackers)] if as_folder else each
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    args = ["eval-mot", "--gt", str(gt), *preds, "--json", str(out_json), "--csv", str(out_csv), "--jobs", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(out_json.read_text())
    assert set(data) == {"half", "good", "swap"}
    assert data["good"]["combined"]["hota"] == pytest.approx(1.0) and data["good"]["combined"]["id_switches"] == 0
    assert data["swap"]["combined"]["id_switches"] == 2 and data["half"]["combined"]["fn"] == 2  # 1 per sequence
    lines = result.output.splitlines()
    order = [next(i for i, ln in enumerate(lines) if ln.lstrip("│┃ ").startswith(t)) for t in ("good", "half", "swap")]
    assert order == sorted(order), result.output  # best first: half and swap tie on HOTA and MOTA, IDF1 decides
    assert "3 trackers, best first" in result.output
    rows = out_csv.read_text().splitlines()
    assert rows[0].startswith("tracker,sequence,") and len(rows) == 1 + 3 * 3


def test_jobs_do_not_change_the_json(tmp_path: Path) -> None:
    gt, trackers = _tiny_layout(tmp_path, {"swap": SWAP})
    outputs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"r{jobs}.json"
        args = ["eval-mot", "--gt", str(gt), "--pred", str(trackers / "swap"), "--json", str(out), "--jobs", jobs]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert set(json.loads(outputs[0])) == {"combined", "sequences"}  # one tracker: the single-tracker layout


def _modules_after_run(args: list[str]) -> set[str]:
    import subprocess
    import sys

    code = (
        "import sys, json\n"
        f"sys.argv = ['yololab', *{args!r}]\n"
        "from yololab.cli import app\n"
        "try:\n"
        "    app()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print('MODULES', json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("MODULES"))
    return set(json.loads(line.split(" ", 1)[1]))


def test_an_evaluation_imports_only_what_it_uses(tmp_path: Path) -> None:
    """A real run (not just --help): no pandas, scipy (its solver's extension only) or pydantic; with --jobs 1 no
    multiprocessing."""
    gt, trackers = _tiny_layout(tmp_path, {"swap": SWAP})
    args = ["eval-mot", "--gt", str(gt), "--pred", str(trackers / "swap"), "--json", str(tmp_path / "r.json")]
    one = _modules_after_run([*args, "--jobs", "1"])
    heavy = {"pandas", "pyarrow", "cv2", "torch", "ultralytics", "mlflow", "onnxruntime", "scipy"}
    assert not heavy & one, heavy & one
    assert not {m for m in one if m.startswith(("multiprocessing", "concurrent.futures"))}
    assert "yololab.cli.commands.data" not in one and "yololab.data.synthetic_config" not in one
    assert "yololab.metrics.tracking" not in one  # the schema's MOTMetrics: not needed to evaluate files
    assert "pydantic" not in one  # typer's pydantic coercion is replaced for eval-mot (yololab.cli.plain_coercion)
    two = _modules_after_run([*args, "--jobs", "2"])
    assert not heavy & two and "concurrent.futures.process" in two


def test_the_console_script_ends_with_everything_written(tmp_path: Path) -> None:
    """``python -m yololab eval-mot`` as a process: it skips the interpreter's teardown (yololab.cli.skip_teardown),
    yet the table piped to stdout, the JSON file and the exit status are complete; an error still exits 2."""
    import subprocess
    import sys

    gt, trackers = _tiny_layout(tmp_path, {"swap": SWAP})
    out = tmp_path / "r.json"
    args = [sys.executable, "-m", "yololab", "eval-mot", "--gt", str(gt), "--pred", str(trackers / "swap")]
    done = subprocess.run([*args, "--json", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().splitlines()[-1].startswith("└")  # the table's last line reached the pipe
    assert "COMBINED" in done.stdout
    inprocess = CliRunner().invoke(app, ["eval-mot", "--gt", str(gt), "--pred", str(trackers / "swap")])
    assert json.loads(out.read_text())["combined"]["hota"] is not None
    assert done.stdout.strip() == inprocess.output.strip()
    failed = subprocess.run([*args[:4], "--gt", str(tmp_path / "absent"), "--pred", str(trackers / "swap")],
                            capture_output=True, text=True)  # fmt: skip
    assert failed.returncode == 2 and "ground-truth folder not found" in failed.stderr


@pytest.mark.parametrize(("requested", "used"), [("auto", "MOT17"), ("none", "none"), ("mot17", "MOT17")])
def test_the_protocol_is_the_one_asked_for_or_told_by_the_names(tmp_path: Path, requested: str, used: str) -> None:
    _one_sequence(
        tmp_path, "MOT17-02-FRCNN", "1,1,0,0,10,10,1,1,1\n2,1,1,0,10,10,1,1,1\n", "1,7,0,0,10,10,0.9,-1,-1,-1\n"
    )
    args = ["eval-mot", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"), "--benchmark", requested]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"preprocessing: {used}" in " ".join(result.output.split())

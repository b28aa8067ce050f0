"""What users read in the terminal (issue #16): the training progress, the per-class table, the footer.

Rendering is checked at 80 columns on a recording rich console that behaves as a terminal (nothing cut with
``…``, every label distinct); the per-class table's numbers against Ultralytics' own ``model.val()``; the whole
terminal output of a real ``yololab train`` (a subprocess, piped: one plain line per epoch, no MLflow INFO line, the
footer with the full run id and the ``mlflow ui`` command for its SQLite store).
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from test_runners import TINY_WORLD
from yololab.metrics.detection import DetectionMetrics
from yololab.metrics.per_class import COLUMNS, ClassRow, PerClassTable
from yololab.metrics.results import TrainingMetricsSnapshot
from yololab.metrics.system import SystemMetrics
from yololab.runners._common import EpochProgress, epoch_line
from yololab.runners.terminal import Footer, print_footer, print_per_class

RUN_ID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
EPOCH_LINE = re.compile(r"epoch (\d+)/(\d+)  mAP50 \S+  mAP50-95 \S+  box_loss \S+  \S+ s")


def terminal80() -> Console:
    """A recording console that behaves as an 80-column terminal."""
    return Console(file=io.StringIO(), width=80, force_terminal=True, record=True, color_system="truecolor")


def snapshot(epoch: int) -> TrainingMetricsSnapshot:
    det = DetectionMetrics(mAP50=0.123456, mAP50_95=0.0654321, box_loss=12.3456)
    return TrainingMetricsSnapshot(epoch, det, SystemMetrics(epoch_time_s=1234.5))


def simulate_training(progress: EpochProgress, *, epochs: int, batches: int) -> None:
    """The calls the training callbacks make, in their order."""
    progress.start(total=epochs)
    for epoch in range(1, epochs + 1):
        progress.start_epoch(epoch, batches)
        for _ in range(batches):
            progress.batch_done()
        progress.validating()
        progress.advance(snapshot(epoch))
    progress.stop()


def plain_lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


@pytest.mark.quick
def test_terminal_epochs_keep_one_full_line_each_at_80_columns() -> None:
    out = terminal80()
    progress = EpochProgress(out=out)
    assert progress.live, "a terminal gets the live bar"
    simulate_training(progress, epochs=3, batches=250)
    text = out.export_text()
    assert "…" not in text
    kept = [m[0] for m in EPOCH_LINE.finditer(text)]
    assert [EPOCH_LINE.match(k)[1] for k in kept] == ["1", "2", "3"], "one kept line per epoch, none overwritten"
    assert kept[0] == epoch_line(snapshot(1), 3) == "epoch 1/3  mAP50 0.123  mAP50-95 0.065  box_loss 12.346  1234.5 s"
    assert max(len(k) for k in kept) <= 80


@pytest.mark.quick
def test_terminal_batch_bar_shows_the_batches_and_both_etas_at_80_columns() -> None:
    out = terminal80()
    progress = EpochProgress(out=out)
    progress.start(total=300)
    progress.advance(snapshot(1))  # one epoch done: the whole training's ETA is known
    progress.start_epoch(123, 1234)
    for _ in range(617):
        progress.batch_done()
    assert progress._progress is not None
    one = terminal80()
    one.print(progress._progress.get_renderable())  # the frame the live display shows now
    progress.stop()
    (frame,) = plain_lines(one.export_text())
    assert "…" not in frame and len(frame) <= 80
    assert frame.startswith("epoch 123/300 ") and " 617/1234 " in frame, frame
    assert re.search(r" eta \d+:\d\d:\d\d all \d+:\d\d:\d\d$", frame), frame


@pytest.mark.quick
def test_piped_training_writes_one_plain_line_per_epoch(capsys: pytest.CaptureFixture[str]) -> None:
    out = Console(file=io.StringIO(), width=80)
    progress = EpochProgress(out=out)
    assert not progress.live
    simulate_training(progress, epochs=2, batches=5)
    err = capsys.readouterr().err
    assert plain_lines(err) == [epoch_line(snapshot(1), 2), epoch_line(snapshot(2), 2)]
    assert "\r" not in err and "\x1b" not in err
    assert out.file.getvalue() == ""  # type: ignore[attr-defined]


@pytest.mark.quick
def test_quiet_training_writes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    out = terminal80()
    simulate_training(EpochProgress(quiet=True, out=out), epochs=2, batches=5)
    assert capsys.readouterr().err == "" and out.export_text() == ""


def table_of(names: list[str]) -> PerClassTable:
    rows = [ClassRow("all", 150, 497, 0.91234, 0.85, 0.88888, 0.63636)]
    rows += [ClassRow(n, 100 + i, 1000 + i, 0.5 + i / 100, 0.4, 0.3, 0.2) for i, n in enumerate(names)]
    return PerClassTable(rows, {"preprocess": 0.31, "inference": 12.04, "loss": 0.0, "postprocess": 1.55})


@pytest.mark.quick
def test_per_class_table_fits_80_columns_without_cutting_anything() -> None:
    long_name = "a_very_long_class_name_from_a_user_dataset_that_does_not_fit"
    out = terminal80()
    print_per_class(table_of(["person", long_name]), title="best.pt, final evaluation", out=out)
    text = out.export_text()
    assert "…" not in text
    lines = plain_lines(text)
    assert all(len(line) <= 80 for line in lines)
    header = next(line for line in lines if line.startswith("class"))
    assert header.split() == list(COLUMNS) and len(set(COLUMNS)) == len(COLUMNS), "every column named, distinct"
    first = next(line for line in lines if line.startswith("all"))
    assert first.split() == ["all", "150", "497", "0.912", "0.850", "0.889", "0.636"], "all first, 3 decimals"
    assert lines.index(first) < next(i for i, line in enumerate(lines) if line.startswith("person"))
    assert long_name in "".join(line.split()[0] for line in lines), "a long class name wraps, whole"
    assert lines[-1] == "speed: 0.3 ms preprocess, 12.0 ms inference, 1.6 ms postprocess per image"


def footer_text(footer: Footer) -> str:
    out = terminal80()
    print_footer(footer, out=out)
    return out.export_text()


@pytest.mark.quick
def test_footer_names_the_run_in_full_and_the_mlflow_ui_command(tmp_path: Path) -> None:
    db = tmp_path / "some" / "deeper" / "folder" / "with a long name" / "mlflow.db"
    footer = Footer("yololab-demo", RUN_ID, f"sqlite:///{db}", 211.4, ".venv/bin/mlflow")
    text = footer_text(footer)
    assert "…" not in text
    labels = [label for label, _ in footer.lines()]
    assert len(labels) == len(set(labels)) == 5, labels
    assert all(any(line.startswith(f"{label:<11} ") for line in text.splitlines()) for label in labels)
    assert f"run id      {RUN_ID}" in text and "experiment  yololab-demo" in text and "3 min 31 s" in text
    command = f".venv/bin/mlflow ui --backend-store-uri sqlite:///{db}"
    assert command in text, "the command is one line, whole (the terminal wraps it)"


@pytest.mark.quick
def test_footer_of_a_relative_store_and_of_a_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = footer_text(Footer("e", RUN_ID, "sqlite:///mlflow.db", 5.0))
    assert f"mlflow ui --backend-store-uri sqlite:///{tmp_path / 'mlflow.db'}" in text, "absolute: works anywhere"
    text = footer_text(Footer("e", RUN_ID, "http://mlflow.internal:5000", 5.0))
    assert "open http://mlflow.internal:5000" in " ".join(text.split()) and "mlflow ui" not in text
    text = footer_text(Footer("e", "local-20261202-abcdef", "http://mlflow.internal:5000", 5.0))
    assert "yololab sync" in text


@pytest.mark.quick
def test_cli_footer_never_shows_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    from yololab.cli.commands.experiments import _footer
    from yololab.config import default_config_path, load_config

    cfg = load_config(default_config_path("infer"), {"tracking.uri": "https://alice:S3cret-pw@mlflow.example:5000"})
    _footer(cfg, RUN_ID, time.monotonic() - 2.0)
    err = " ".join(capsys.readouterr().err.split())
    assert "S3cret-pw" not in err and "alice" not in err
    assert f"run id {RUN_ID}" in err and "open https://mlflow.example:5000" in err


# ------------------------------------------------------------------------------------ a real `yololab train`


@pytest.fixture(scope="module")
def cli_train(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``yololab train`` as a user runs it (a subprocess, output piped), on a fresh SQLite store: 2 epochs."""
    root = tmp_path_factory.mktemp("terminal")
    db = root / "store" / "mlflow.db"
    values = {**TINY_WORLD, "data.synthetic.val_fraction": 0.5, "imgsz": 64, "train.epochs": 2, "train.batch": 8,
              "data.root": str(root / "world"), "tracking.journal_dir": str(root / "journal"),
              "output_dir": str(root / "runs"), "experiment": "terminal-tests"}  # fmt: skip
    args = [str(Path(sys.executable).parent / "yololab"), "train", "--tracking-uri", f"sqlite:///{db}"]
    args += [a for k, v in values.items() for a in ("--set", f"{k}={v}")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    started = time.monotonic()
    proc = subprocess.run(args, cwd=root, env={**env, "COLUMNS": "80"}, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"root": root, "db": db, "proc": proc, "elapsed": time.monotonic() - started}


def only_run(db: Path) -> Any:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    (run,) = client.search_runs([client.get_experiment_by_name("terminal-tests").experiment_id])
    return run


@pytest.mark.integration
@pytest.mark.slow
def test_cli_train_shows_no_mlflow_info_line(cli_train: dict[str, Any]) -> None:
    proc = cli_train["proc"]
    console = proc.stdout + proc.stderr
    assert "Creating initial MLflow database tables" not in console and "Updating database tables" not in console
    assert not re.search(r"\bINFO\b", console), console
    assert not [line for line in console.splitlines() if "alembic" in line or "mlflow.store" in line]
    epochs = [line for line in proc.stderr.splitlines() if EPOCH_LINE.fullmatch(line)]
    assert [EPOCH_LINE.match(e)[1] for e in epochs] == ["1", "2"], "piped: one plain line per epoch"
    assert "\r" not in proc.stderr and "\x1b[" not in proc.stderr, "piped: no live bar"


@pytest.mark.integration
@pytest.mark.slow
def test_cli_train_footer_names_the_run_and_the_command(cli_train: dict[str, Any]) -> None:
    run = only_run(cli_train["db"])
    err = cli_train["proc"].stderr
    assert f"run id      {run.info.run_id}\n" in err, "the run id in full"
    assert "experiment  terminal-tests\n" in err
    assert f"tracking    sqlite:///{cli_train['db']}" in err
    assert f"mlflow ui --backend-store-uri sqlite:///{cli_train['db']}\n" in err
    elapsed = re.search(r"^elapsed +(?:(\d+) min )?([\d.]+) s$", err, re.MULTILINE)
    assert elapsed, err[-800:]
    assert 0 < 60 * int(elapsed[1] or 0) + float(elapsed[2]) <= cli_train["elapsed"] + 1
    assert not [line for line in plain_lines(err) if len(line) > 80 and "mlflow ui" not in line]


def ultralytics_val(weights: Path, data_yaml: Path) -> Any:
    """Ultralytics' own validation, as ``yolo val`` runs it (``rect=False``: what yololab's validator uses)."""
    from ultralytics import YOLO

    return YOLO(str(weights)).val(data=str(data_yaml), imgsz=64, rect=False, plots=False, batch=4, workers=0)


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.oracle
def test_per_class_table_equals_ultralytics_validation(cli_train: dict[str, Any]) -> None:
    from yololab.adapters.ultralytics_env import prepare_ultralytics_offline
    from yololab.adapters.ultralytics_model import validate_model_table
    from yololab.data.yolo_dataset import read_data_yaml

    prepare_ultralytics_offline()
    best = cli_train["root"] / "runs" / "train" / "weights" / "best.pt"
    data_yaml = cli_train["root"] / "world" / "data.yaml"
    _, table = validate_model_table(best, data_yaml, imgsz=64)
    ref = ultralytics_val(best, data_yaml)
    images = len(read_data_yaml(data_yaml).images("val"))
    expected = [("all", images, int(ref.nt_per_class.sum()), *map(float, ref.mean_results()))]
    for i, c in enumerate(ref.ap_class_index):
        values = (ref.box.p[i], ref.box.r[i], ref.box.ap50[i], ref.box.ap[i])
        expected.append((ref.names[c], int(ref.nt_per_image[c]), int(ref.nt_per_class[c]), *map(float, values)))
    got = [(r.name, r.images, r.instances, r.precision, r.recall, r.mAP50, r.mAP50_95) for r in table.rows]
    assert got == expected
    assert len(table.rows) >= 2 and table.rows[0].instances > 0
    assert set(table.speed_ms) == set(ref.speed) and all(v >= 0 for v in table.speed_ms.values())
    # what the run logged as tables/per_class.csv and printed: the same table (best.pt, yololab's validator)
    run = only_run(cli_train["db"])
    path = Path(run.info.artifact_uri) / "tables" / "per_class.csv"
    logged = list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))
    assert [tuple(row.values()) for row in logged] == [tuple(str(v) for v in row) for row in got]
    err = cli_train["proc"].stderr
    assert re.search(rf"^all +{images} +{table.rows[0].instances} ", err, re.MULTILINE), err[-1500:]
    assert re.search(r"^speed: [\d.]+ ms preprocess, [\d.]+ ms inference, [\d.]+ ms postprocess per image$",
                     err, re.MULTILINE)  # fmt: skip


@pytest.mark.quick
def test_demo_summary_shows_every_run_id_in_full_at_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    from yololab.runners import demo

    ids = {kind: f"{i}" * 32 for i, kind in enumerate(("train", "infer", "quant"), start=7)}
    result = demo.DemoResult(
        run_ids=ids,
        seconds={"train": 134.2, "infer": 8.1, "quant": 9.4},
        headline={"infer": {"mAP50": 0.89, "fps": 80.858, "p95_ms": 13.016, "HOTA": 0.544, "MOTA": 0.506}},
        tracking_uri="sqlite:////work/mlflow.db",
    )
    out = terminal80()
    monkeypatch.setattr(demo, "console", out)
    demo.print_summary(result, "yololab-demo")
    lines = out.export_text().splitlines()
    table = [line for line in lines if line[:1] in "┏┃┡│└"]
    assert table and "…" not in "".join(table) and all(len(line) <= 80 for line in table)
    for run_id in ids.values():
        assert sum(line.count(run_id) for line in table) == 1, f"{run_id} in full in the table"
    compare = next(line for line in lines if line.startswith("compare them:"))  # one line, whole, to copy
    assert all(run_id in compare for run_id in ids.values())

"""Every broken input is a clear error (file, what was expected), exit 2, no traceback, and the run FAILED with the
reason as a tag; read-only commands create nothing; several processes share one fresh default store safely.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from test_runners import TINY_WORLD
from yololab.cli import app


def words(text: str) -> str:
    return " ".join(text.split())


def client_for(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def train_args(values: dict[str, Any]) -> list[str]:
    return ["train", *[a for k, v in values.items() for a in ("--set", f"{k}={v}")]]


def only_run(uri: str, experiment: str) -> Any:
    client = client_for(uri)
    (run,) = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return run


def write_dataset(root: Path, *, with_val: bool) -> Path:
    """A data.yaml naming train/ and val/ folders; only val/ exists (with one image) when ``with_val``."""
    if with_val:
        import numpy as np
        from PIL import Image

        (root / "images" / "val").mkdir(parents=True)
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(root / "images" / "val" / "a.png")
    root.mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text("train: images/train\nval: images/val\nnames: {0: box}\n")
    return root / "data.yaml"


def broken_model(kind: str, folder: Path) -> str:
    if kind == "missing-pt":
        return str(folder / "yolov8n.pt")
    if kind == "unknown-yaml":
        return "yolo99z.yaml"
    path = folder / {"corrupt-pt": "random.pt", "empty-onnx": "empty.onnx", "onnx": "model.onnx"}[kind]
    path.write_bytes(b"" if kind == "empty-onnx" else bytes(range(256)) * 40)
    return str(path)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing-pt", "does not exist (expected a model YAML such as yolo11n.yaml (trained from scratch) or a local "
                       ".pt checkpoint to start from; yololab never downloads weights)"),
        ("corrupt-pt", "random.pt: cannot be loaded as an Ultralytics checkpoint"),
        ("empty-onnx", "empty.onnx: empty file (0 bytes); expected a model YAML"),
        ("onnx", "model.onnx: training cannot start from this file; expected a model YAML"),
        ("unknown-yaml", "'yolo99z.yaml' does not exist"),
        ("no-folders", "'val' names {root}/images/val, which does not exist"),
        ("no-train-folder", "'train' names {root}/images/train, which does not exist"),
    ],
)  # fmt: skip
def test_train_refuses_broken_inputs_clearly(mlflow_server: Any, tmp_path: Path, case: str, expected: str) -> None:
    experiment = f"broken-{case}-{uuid.uuid4().hex[:6]}"
    values: dict[str, Any] = {**TINY_WORLD, "tracking.uri": mlflow_server.uri, "experiment": experiment,
                              "tracking.journal_dir": str(tmp_path / "journal"), "output_dir": str(tmp_path / "runs"),
                              "data.root": str(tmp_path / "world"), "imgsz": 64, "train.epochs": 1}  # fmt: skip
    if case in ("no-folders", "no-train-folder"):
        data = write_dataset(tmp_path / "ds", with_val=case == "no-train-folder")
        values = {k: v for k, v in values.items() if not k.startswith("data.")}
        values.update({"data.synthetic": "null", "data.yaml": str(data)})
    else:
        values["model"] = broken_model(case, tmp_path)
    result = CliRunner().invoke(app, train_args(values))
    message = expected.format(root=tmp_path / "ds")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and message in words(result.output)
    run = only_run(mlflow_server.uri, experiment)
    assert run.info.status == "FAILED" and message in words(run.data.tags["yololab.failure_reason"])
    assert not (tmp_path / "runs" / "train" / "weights").exists()


@pytest.mark.integration
def test_missing_checkpoint_is_refused_without_any_download_attempt(
    mlflow_server: Any, tmp_path: Path, network_guard: Any
) -> None:
    """Ultralytics would ask api.github.com for a missing ``*.pt`` in spite of YOLO_OFFLINE: it is never asked."""
    values = {"tracking.uri": mlflow_server.uri, "model": "yolo11n.pt", "experiment": "no-download",
              "output_dir": "runs", "tracking.journal_dir": "journal"}  # fmt: skip
    command = [str(Path(sys.executable).parent / "yololab"), *train_args(values)]
    proc = subprocess.run(command, cwd=tmp_path, env=network_guard.env(mlflow_server.port), capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "error: model: 'yolo11n.pt' does not exist" in words(proc.stderr) and "Traceback" not in proc.stderr
    assert network_guard.attempts() == []


@pytest.mark.quick
def test_compare_never_creates_a_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    for args in (["compare", "0123456789abcdef"], ["compare", "--experiment", "nothing-here"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert f"error: no MLflow store at {tmp_path / 'mlflow.db'}" in words(result.output)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.integration
def test_compare_with_an_unknown_run_id_says_so(mlflow_server: Any) -> None:
    result = CliRunner().invoke(
        app, ["compare", "0123456789abcdef0123456789abcdef", "--tracking-uri", mlflow_server.uri]
    )
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "error: RESOURCE_DOES_NOT_EXIST: Run with id=0123456789abcdef0123456789abcdef not found" in words(
        result.output
    )


@pytest.mark.integration
@pytest.mark.slow
def test_offline_training_with_a_wrong_password_runs_and_sync_uploads_it(
    mlflow_auth_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conftest import AUTH_ADMIN, AUTH_ADMIN_PASSWORD

    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.setenv(name, "placeholder")
        monkeypatch.delenv(name)
    experiment = f"offline-{uuid.uuid4().hex[:6]}"
    values = {**TINY_WORLD, "tracking.uri": mlflow_auth_server.uri_with(AUTH_ADMIN, "Wrong-password-42"),
              "experiment": experiment, "tracking.journal_dir": str(tmp_path / "journal"), "imgsz": 64,
              "output_dir": str(tmp_path / "runs"), "data.root": str(tmp_path / "world"), "train.epochs": 2,
              "train.batch": 8}  # fmt: skip
    result = CliRunner().invoke(app, [*train_args(values), "--offline"])
    assert result.exit_code == 0, result.output
    assert "run local-" in result.output and (tmp_path / "runs" / "train" / "weights" / "best.pt").exists()
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", AUTH_ADMIN)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", AUTH_ADMIN_PASSWORD)
    synced = CliRunner().invoke(app, ["sync", "--journal-dir", str(tmp_path / "journal")])
    assert synced.exit_code == 0, synced.output
    run = only_run(mlflow_auth_server.uri, experiment)
    assert run.info.status == "FINISHED"
    steps = [m.step for m in client_for(mlflow_auth_server.uri).get_metric_history(run.info.run_id, "det.box_loss")]
    assert steps == [1, 2]


# ------------------------------------------------------------------------------------------ several processes

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from yololab.adapters.mlflow_recorder import ExperimentRecorder
    from yololab.runners.train import claim_output_dir

    with ExperimentRecorder(experiment_name="together", experiment_type="train", run_name=sys.argv[1]) as rec:
        folder, lock = claim_output_dir(Path("runs").resolve(), "train", rec.run_key)
        rec.log_params({"writer": sys.argv[1]})
        for step in range(1, 11):
            rec.log_metrics({f"det.m{k}": step + k / 100 for k in range(16)}, step=step)
        (folder / "owner.txt").write_text(sys.argv[1])
        print(folder, flush=True)
        Path(f"claimed-{sys.argv[1]}").touch()
        import time
        deadline = time.monotonic() + 120
        while len(list(Path().glob("claimed-*"))) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)  # hold the folder until all four hold theirs
        lock.release()
    print(rec.run_id, flush=True)
    """
)


@pytest.mark.integration
def test_four_processes_on_a_fresh_default_store(tmp_path: Path) -> None:
    """Started together in one folder: one creates the SQLite store under the lock, all four runs land whole."""
    env = {k: v for k, v in __import__("os").environ.items() if k != "MLFLOW_TRACKING_URI"}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, f"writer-{i}"], cwd=tmp_path, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(4)]  # fmt: skip
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-3000:]
        assert "Traceback" not in err and "_alembic_tmp" not in err
    folders = [out.split()[0] for out, _ in outputs]
    assert len(set(folders)) == 4  # each run its own output folder
    assert sorted((Path(f) / "owner.txt").read_text() for f in folders) == [f"writer-{i}" for i in range(4)]
    client = client_for(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("together").experiment_id])
    assert sorted(r.data.params["writer"] for r in runs) == [f"writer-{i}" for i in range(4)]
    for run in runs:
        assert run.info.status == "FINISHED" and len(run.data.metrics) == 16
        history = client.get_metric_history(run.info.run_id, "det.m7")
        assert sorted(m.step for m in history) == list(range(1, 11))


@pytest.mark.quick
def test_a_busy_or_used_output_folder_is_not_shared(tmp_path: Path) -> None:
    from yololab.runners.train import claim_output_dir

    first, lock = claim_output_dir(tmp_path, "train", "run-a")
    second, other = claim_output_dir(tmp_path, "train", "run-b")
    assert (first, second) == (tmp_path / "train", tmp_path / "train-run-b")
    lock.release()
    other.release()
    again, lock = claim_output_dir(tmp_path, "train", "run-c")  # run-a ended without writing: its folder is free
    assert again == tmp_path / "train"
    (again / "weights").mkdir()
    (again / "weights" / "best.pt").write_bytes(b"run-c")
    lock.release()
    later, lock = claim_output_dir(tmp_path, "train", "run-d")  # never into an earlier run's output
    assert later == tmp_path / "train-run-d" and not any(later.glob("weights"))
    assert (tmp_path / "train" / "weights" / "best.pt").read_bytes() == b"run-c"
    lock.release()

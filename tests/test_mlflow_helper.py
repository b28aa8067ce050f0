"""MLflow's client in a helper process (``yololab.adapters.mlflow_process``), against the real server.

The rest of the suite sends in-process (``YOLOLAB_MLFLOW_HELPER=0``, set in conftest, so that it does not start a
helper and import MLflow again for each recorder); these tests force the helper.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from yololab.adapters import mlflow_process
from yololab.adapters.mlflow_recorder import ExperimentRecorder, TrackingAuthError, sync_journals

pytestmark = pytest.mark.integration

RUN_IN_A_FRESH_PROCESS = """
import json, sys
from pathlib import Path
from yololab.adapters.mlflow_recorder import ExperimentRecorder
uri, journal, experiment, artifact = sys.argv[1:5]
with ExperimentRecorder(experiment_name=experiment, experiment_type="infer", tracking_uri=uri,
                        journal_dir=journal) as rec:
    rec.log_params({"model": "yolo.pt", "imgsz": 128})
    for step in (1, 2):
        rec.log_metrics({"det.mAP50": 0.25 * step}, step=step)
    rec.set_tags({"yololab.note": "helper"})
    rec.log_input(name="world/val", digest="0123456789abcdef", source="data.yaml", context="evaluation")
    rec.log_artifact(artifact)
    run_id = rec.run_id
print(json.dumps({"run_id": run_id, "mlflow_imported": "mlflow" in sys.modules}))
"""


def _client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def test_a_run_sent_through_the_helper_is_complete_and_the_process_never_imports_mlflow(
    mlflow_server: Any, tmp_path: Path
) -> None:
    artifact = tmp_path / "table.csv"
    artifact.write_text("format,ms\ntorch,3.2\n")
    experiment = f"helper-{uuid.uuid4().hex[:6]}"
    env = {k: v for k, v in os.environ.items() if k != mlflow_process.ENV_SWITCH}
    args = [mlflow_server.uri, str(tmp_path / "j"), experiment, str(artifact)]
    out = subprocess.run([sys.executable, "-c", RUN_IN_A_FRESH_PROCESS, *args],
                         capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["mlflow_imported"] is False  # the import and every call happened in the helper
    client = _client(mlflow_server.uri)
    run = client.get_run(result["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params == {"model": "yolo.pt", "imgsz": "128"}
    assert [m.value for m in client.get_metric_history(run.info.run_id, "det.mAP50")] == [0.25, 0.5]
    assert run.data.tags["yololab.note"] == "helper"
    assert [d.dataset.name for d in run.inputs.dataset_inputs] == ["world/val"]
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["table.csv"]


def test_a_wrong_password_through_the_helper_stops_before_any_work(
    mlflow_auth_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(mlflow_process.ENV_SWITCH, "1")
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.setenv(name, "placeholder")
        monkeypatch.delenv(name)
    uri = mlflow_auth_server.uri_with(f"nobody-{uuid.uuid4().hex[:6]}", "Wrong-password-42")
    with pytest.raises(TrackingAuthError) as caught:
        ExperimentRecorder(experiment_name="helper-auth", experiment_type="train", tracking_uri=uri,
                           journal_dir=tmp_path / "journal")  # fmt: skip
    assert caught.value.status == 401 and "Wrong-password-42" not in str(caught.value)
    assert mlflow_process._HELPERS == {}  # the recorder gave its helper back; the last user closed it


def test_a_helper_that_dies_loses_nothing_and_sync_sends_the_rest(
    mlflow_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(mlflow_process.ENV_SWITCH, "1")
    journal = tmp_path / "journal"
    rec = ExperimentRecorder(experiment_name=f"helper-dies-{uuid.uuid4().hex[:6]}", experiment_type="train",
                             tracking_uri=mlflow_server.uri, journal_dir=journal)  # fmt: skip
    rec.log_metrics({"det.mAP50": 0.1}, step=1)
    run_id = rec.run_id  # the run exists on the server
    helper = mlflow_process._HELPERS[mlflow_server.uri]
    helper._proc.kill()
    helper._proc.wait()
    for step in (2, 3):
        rec.log_metrics({"det.mAP50": 0.1 * step}, step=step)
    rec.end()
    client = _client(mlflow_server.uri)
    assert client.get_run(run_id).info.status == "RUNNING"  # the end is still in the journal only
    monkeypatch.setenv(mlflow_process.ENV_SWITCH, "0")
    report = sync_journals(journal_dir=journal, tracking_uri=mlflow_server.uri)
    assert report.ok, report
    history = client.get_metric_history(run_id, "det.mAP50")
    assert sorted((m.step, round(m.value, 6)) for m in history) == [(1, 0.1), (2, 0.2), (3, 0.3)]
    assert client.get_run(run_id).info.status == "FINISHED"

"""Secrets never leave the process, and a refused credential is named for what it is.

Against a real ``mlflow server --app-name basic-auth`` (the session's ``mlflow_auth_server``): a password in the
tracking URI works but appears in no file (journal, output folder, the server's store), no param or tag and no console
line; a wrong password or a missing permission stops the experiment before any work (exit 2); a credential revoked
mid-run stops the sender without a retry loop, and ``yololab sync`` with the right one sends everything once.
"""

from __future__ import annotations

import logging
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest import AUTH_ADMIN, AUTH_ADMIN_PASSWORD
from test_runners import TINY_WORLD
from yololab.adapters.mlflow_recorder import ExperimentRecorder, TrackingAuthError, sync_journals
from yololab.cli import app
from yololab.journal import SyncState, lock_path_of, read_journal

CREDENTIAL_VARS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")


@pytest.fixture
def scoped_credentials(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No credentials in the environment now, and whatever a recorder puts there is removed after the test."""
    for name in CREDENTIAL_VARS:
        monkeypatch.setenv(name, "placeholder")
        monkeypatch.delenv(name)
    return monkeypatch


def files_holding(root: Path, *needles: str) -> list[str]:
    """Every file under ``root`` whose bytes contain one of ``needles``."""
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path} holds {n!r}" for n in needles if n.encode() in data]
    return found


def new_user(server: Any) -> tuple[str, str]:
    name, password = f"alice-{uuid.uuid4().hex[:6]}", f"Pw-{uuid.uuid4().hex}"
    server.admin_call("POST", "/api/2.0/mlflow/users/create", {"username": name, "password": password})
    return name, password


def admin_client(server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", AUTH_ADMIN)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", AUTH_ADMIN_PASSWORD)
    return MlflowClient(tracking_uri=server.uri)


def refused_uri(user: str, password: str) -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://{user}:{password}@127.0.0.1:{port}"


# ------------------------------------------------------------------------------------------------ no server


@pytest.mark.quick
def test_uri_password_reaches_no_journal_no_warning_and_files_are_private(
    tmp_path: Path, scoped_credentials: Any, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    password = f"S3cret-{uuid.uuid4().hex}"
    uri = refused_uri("bob", password)
    caplog.set_level(logging.INFO)
    with ExperimentRecorder(experiment_name="secrets", experiment_type="train", tracking_uri=uri,
                            journal_dir=tmp_path / "journal", flush_timeout_s=0.5) as rec:  # fmt: skip
        rec.log_params({"tracking.uri": uri, "epochs": 3})
        rec.log_metrics({"loss": 0.5}, step=1)
        rec.log_text("notes", "notes/a.txt")
    out, err = capfd.readouterr()
    assert "unavailable" in caplog.text and "not sent" in caplog.text  # the warnings were printed ...
    assert password not in caplog.text + out + err  # ... without the password
    clean = uri.replace(f"bob:{password}@", "")
    records = read_journal(rec.journal_path)
    assert {r["tracking_uri"] for r in records} == {clean} and rec.tracking_uri == clean
    assert records[1]["params"]["tracking.uri"] == f"http://bob:***@{clean.split('//')[1]}"
    assert files_holding(tmp_path, password) == []
    import os

    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == password  # how MLflow gets it: this process's environment
    mode = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [rec.journal_path.parent, rec.journal_path,
                                                              lock_path_of(rec.journal_path)]}  # fmt: skip
    assert mode == {"journal": 0o700, rec.journal_path.name: 0o600, lock_path_of(rec.journal_path).name: 0o600}
    copies = rec.journal_path.with_name(rec.journal_path.name + ".artifacts")
    assert stat.S_IMODE(copies.stat().st_mode) == 0o700


@pytest.mark.quick
def test_secret_tags_follow_the_params_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from yololab.config import parse_config
    from yololab.runners._common import open_recorder

    monkeypatch.setenv("YOLOLAB_OFFLINE", "1")
    config = parse_config({"kind": "infer", "experiment": "secret-tags", "tracking": {
        "uri": "http://carol:Hunter2-pw@127.0.0.1:1", "journal_dir": str(tmp_path / "journal")},
        "tags": {"api_key": "SEKRET-1", "team": "vision", "note": "see http://u:Pw-in-note@h"}})  # fmt: skip
    with pytest.raises(RuntimeError), open_recorder(config, run_name_default="t") as rec:
        rec.set_tags({"db_password": "SEKRET-2"})
        raise RuntimeError("cannot reach postgresql://dave:SEKRET-3@db/mlflow")
    records = read_journal(rec.journal_path)
    tags = {k: v for r in records for k, v in r.get("tags", {}).items()}
    params = {k: v for r in records for k, v in r.get("params", {}).items()}
    assert (tags["api_key"], tags["db_password"], tags["team"]) == ("***", "***", "vision")
    assert tags["note"] == "see http://u:***@h" and params["tags.api_key"] == "***"
    assert tags["yololab.failure_reason"] == "RuntimeError: cannot reach postgresql://dave:***@db/mlflow"
    assert files_holding(tmp_path, "SEKRET", "Hunter2-pw", "Pw-in-note") == []


# ---------------------------------------------------------------------------------------- basic-auth server


@pytest.mark.integration
def test_password_in_uri_works_and_is_stored_nowhere(
    mlflow_auth_server: Any, tmp_path: Path, scoped_credentials: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    user, password = new_user(mlflow_auth_server)
    uri = mlflow_auth_server.uri_with(user, password)
    with ExperimentRecorder(experiment_name=f"auth-{user}", experiment_type="train", tracking_uri=uri,
                            journal_dir=tmp_path / "journal", tags={"uri": uri}) as rec:  # fmt: skip
        rec.log_params({"tracking.uri": uri})
        rec.log_metrics({"loss": 0.25}, step=1)
        rec.log_text(f"logged to {uri}", "notes/where.txt")
    out, err = capfd.readouterr()
    assert f"View run {rec.run_id} at: {mlflow_auth_server.uri}/#/experiments/" in out  # yololab's line, clean
    assert password not in out + err
    client = admin_client(mlflow_auth_server, scoped_credentials)
    run = client.get_run(rec.run_id)
    assert run.info.status == "FINISHED" and run.data.metrics == {"loss": 0.25}
    assert run.data.params["tracking.uri"] == f"http://{user}:***@127.0.0.1:{mlflow_auth_server.port}"
    assert password not in repr(run.data.params) + repr(run.data.tags)
    note = Path(client.download_artifacts(rec.run_id, "notes/where.txt", str(tmp_path / "download"))).read_text()
    assert note == f"logged to http://{user}:***@127.0.0.1:{mlflow_auth_server.port}"
    assert files_holding(tmp_path, password) == [] and files_holding(mlflow_auth_server.root, password) == []


@pytest.mark.integration
def test_wrong_password_stops_the_experiment_before_any_work(
    mlflow_auth_server: Any, tmp_path: Path, scoped_credentials: Any
) -> None:
    user, _ = new_user(mlflow_auth_server)
    wrong = uri = mlflow_auth_server.uri_with(user, "Wrong-password-42")
    with pytest.raises(TrackingAuthError) as caught:
        ExperimentRecorder(experiment_name="auth-wrong", experiment_type="train", tracking_uri=uri,
                           journal_dir=tmp_path / "journal")  # fmt: skip
    message = str(caught.value)
    assert caught.value.status == 401 and "Wrong-password-42" not in message
    assert f"MLflow server {mlflow_auth_server.uri} refused the credentials of user {user!r} (HTTP 401" in message
    assert "nothing was run" in message and "--offline" in message
    assert list((tmp_path / "journal").glob("*.jsonl")) == []  # a run that never ran leaves no journal

    values = {**TINY_WORLD, "tracking.uri": wrong, "output_dir": str(tmp_path / "runs"),
              "data.root": str(tmp_path / "world"), "tracking.journal_dir": str(tmp_path / "journal"),
              "train.epochs": 1, "imgsz": 64}  # fmt: skip
    result = CliRunner().invoke(app, ["train", *[a for k, v in values.items() for a in ("--set", f"{k}={v}")]])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert f"error: MLflow server {mlflow_auth_server.uri} refused the credentials of user {user!r}" in text
    assert "Traceback" not in result.output and "Wrong-password-42" not in result.output
    assert not (tmp_path / "runs").exists() and not (tmp_path / "world").exists()  # nothing generated, nothing trained


@pytest.mark.integration
def test_missing_permission_is_named_as_such(mlflow_auth_server: Any, tmp_path: Path, scoped_credentials: Any) -> None:
    owner = admin_client(mlflow_auth_server, scoped_credentials)
    experiment = f"admins-only-{uuid.uuid4().hex[:6]}"
    owner.create_experiment(experiment)
    user, password = new_user(mlflow_auth_server)  # default permission READ: may read, may not write
    with pytest.raises(TrackingAuthError) as caught:
        ExperimentRecorder(experiment_name=experiment, experiment_type="infer", journal_dir=tmp_path / "journal",
                           tracking_uri=mlflow_auth_server.uri_with(user, password))  # fmt: skip
    assert caught.value.status == 403
    assert f"denied user {user!r} permission to write to experiment {experiment!r} (HTTP 403" in str(caught.value)
    assert "ask for EDIT permission" in str(caught.value)


@pytest.mark.integration
def test_credential_revoked_mid_run_stops_the_sender_and_sync_sends_the_rest(
    mlflow_auth_server: Any, tmp_path: Path, scoped_credentials: Any, caplog: pytest.LogCaptureFixture
) -> None:
    user, password = new_user(mlflow_auth_server)
    logged = {step: {"loss": 1.0 / step, "det.mAP50": step / 10} for step in range(1, 7)}
    caplog.set_level(logging.WARNING)
    with ExperimentRecorder(experiment_name=f"revoked-{user}", experiment_type="train", journal_dir=tmp_path / "j",
                            tracking_uri=mlflow_auth_server.uri_with(user, password)) as rec:  # fmt: skip
        for step in range(1, 4):
            rec.log_metrics(logged[step], step=step)
        journal = rec.journal_path
        deadline = time.monotonic() + 10
        while len(SyncState.load(journal).done) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        new_password = f"Pw-{uuid.uuid4().hex}"
        mlflow_auth_server.admin_call("PATCH", "/api/2.0/mlflow/users/update-password",
                                      {"username": user, "password": new_password})  # fmt: skip
        timings = []
        for step in range(4, 7):
            t0 = time.monotonic()
            rec.log_metrics(logged[step], step=step)
            timings.append(time.monotonic() - t0)
            time.sleep(0.3)
    assert max(timings) < 0.1
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]  # said once: no retry loop
    error = errors[0].getMessage()
    assert f"refused the credentials of user {user!r} (HTTP 401" in error and "no retries" in error
    assert "yololab sync" in error and password not in caplog.text and new_password not in caplog.text
    assert "4 of its journaled calls were not sent" in caplog.text  # 3 steps + end_run

    scoped_credentials.setenv("MLFLOW_TRACKING_USERNAME", user)
    scoped_credentials.setenv("MLFLOW_TRACKING_PASSWORD", new_password)
    report = sync_journals([journal])
    assert (report.sent, report.skipped, report.failed, report.bad) == (4, 4, 0, 0)
    client = admin_client(mlflow_auth_server, scoped_credentials)
    assert client.get_run(rec.run_id).info.status == "FINISHED"
    history = {k: sorted((m.step, m.value) for m in client.get_metric_history(rec.run_id, k)) for k in logged[1]}
    assert history == {k: [(s, logged[s][k]) for s in logged] for k in logged[1]}


@pytest.mark.integration
@pytest.mark.slow
def test_training_with_password_in_uri_leaks_it_nowhere_and_touches_no_network(
    mlflow_auth_server: Any, tmp_path: Path, network_guard: Any, scoped_credentials: Any
) -> None:
    """A real ``yololab train`` process, every connection but the tracking server's refused at the socket level."""
    user, password = new_user(mlflow_auth_server)
    uri = mlflow_auth_server.uri_with(user, password)
    values = {**TINY_WORLD, "tracking.uri": uri, "output_dir": "runs", "data.root": "world", "imgsz": 64,
              "train.epochs": 2, "train.batch": 8, "experiment": f"leaks-{user}", "tags.api_key": "SEKRET-TAG",
              "run_name": "no-leaks"}  # fmt: skip
    command = [str(Path(sys.executable).parent / "yololab"), "train"]
    command += [a for k, v in values.items() for a in ("--set", f"{k}={v}")]
    env = network_guard.env(mlflow_auth_server.port)
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    console = proc.stdout + proc.stderr
    assert proc.returncode == 0, console[-3000:]
    assert network_guard.attempts() == []  # no connection attempt beyond the tracking server, no DNS query
    assert password not in console and "SEKRET-TAG" not in console
    assert f"View run no-leaks at: {mlflow_auth_server.uri}/#/experiments/" in console
    assert (tmp_path / "runs" / "train" / "weights" / "best.pt").exists()
    leaks = [
        *files_holding(tmp_path, password, "SEKRET-TAG"),
        *files_holding(mlflow_auth_server.root, password, "SEKRET-TAG"),
    ]
    assert leaks == []
    client = admin_client(mlflow_auth_server, scoped_credentials)
    (run,) = client.search_runs([client.get_experiment_by_name(values["experiment"]).experiment_id])
    assert run.info.status == "FINISHED" and run.data.metrics["det.mAP50"] >= 0.0
    assert run.data.params["tracking.uri"] == f"http://{user}:***@127.0.0.1:{mlflow_auth_server.port}"
    assert run.data.params["tags.api_key"] == run.data.tags["api_key"] == "***"
    assert password not in repr(run.data.params) + repr(run.data.tags)

"""The MLflow recorder against a real ``mlflow server``: round-trips, hostile keys, outages, journal and sync."""

from __future__ import annotations

import contextlib
import json
import math
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from test_schema import HOSTILE_NAMES, detection, inverse, mot, system
from yololab.adapters.mlflow_recorder import ExperimentRecorder, sync_journals
from yololab.cli import app
from yololab.journal import SyncState, read_journal, state_path_of
from yololab.metrics import InferenceMetricsResult, TrainingMetricsSnapshot
from yololab.metrics._base import from_mlflow_value

pytestmark = pytest.mark.integration

STEP_LIMIT_S = 0.5
"""Logging one step appends to the journal only: it returns within this many seconds, whatever the server does."""


def client_for(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def history(client: Any, run_id: str) -> dict[str, list[tuple[int, float]]]:
    """Every logged value of every metric of a run: key -> sorted (step, value) pairs, duplicates kept."""
    run = client.get_run(run_id)
    return {key: sorted((m.step, m.value) for m in client.get_metric_history(run_id, key)) for key in run.data.metrics}


def same(a: float, b: float) -> bool:
    """Equal, NaN equal to NaN, MLflow's stored ±float max equal to ±inf."""
    a, b = from_mlflow_value(a), from_mlflow_value(b)
    return (math.isnan(a) and math.isnan(b)) or a == b


def assert_logged_exactly_once(client: Any, run_id: str, logged: Mapping[int, Mapping[str, float]]) -> None:
    """Compare key by key: each (step, value) logged is in MLflow exactly once, and nothing else is."""
    expected: dict[str, list[tuple[int, float]]] = {}
    for step, metrics in logged.items():
        for key, value in metrics.items():
            expected.setdefault(key, []).append((step, value))
    actual = history(client, run_id)
    assert sorted(actual) == sorted(expected)
    for key, pairs in expected.items():
        got = actual[key]
        assert [s for s, _ in got] == sorted(s for s, _ in pairs), key
        assert all(same(v, w) for (_, v), (_, w) in zip(got, sorted(pairs), strict=True)), key


def recorder(uri: str, journal: Path, **kwargs: Any) -> ExperimentRecorder:
    kwargs.setdefault("experiment_name", "yololab-tests")
    kwargs.setdefault("experiment_type", "train")
    return ExperimentRecorder(tracking_uri=uri, journal_dir=journal, **kwargs)


def assert_all_sent(rec: ExperimentRecorder) -> None:
    """Every record of the run's write-ahead journal is marked as accepted by the server."""
    records = read_journal(rec.journal_path)
    assert records and {r["id"] for r in records} == SyncState.load(rec.journal_path).done


# ------------------------------------------------------------------------------------------- live round trips


def test_training_snapshots_round_trip(mlflow_server: Any, tmp_path: Path) -> None:
    det = detection()
    keys = det.class_keys()
    snapshots = [
        TrainingMetricsSnapshot(epoch=e, detection=detection(mAP50=0.1 * e, box_loss=2.0 / (e + 1)), system=system())
        for e in range(3)
    ]
    with recorder(mlflow_server.uri, tmp_path / "journal", run_name="round-trip") as rec:
        rec.log_dict(keys, "class_keys.json")
        for snap in snapshots:
            rec.log_metrics(snap.to_mlflow_dict(keys), step=snap.epoch)
    assert_all_sent(rec)
    client = client_for(mlflow_server.uri)
    run = client.get_run(rec.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "round-trip"
    stored_keys = json.loads(Path(client.download_artifacts(rec.run_id, "class_keys.json", str(tmp_path))).read_text())
    assert stored_keys == keys
    per_step: dict[int, dict[str, float]] = {}
    for key, pairs in history(client, rec.run_id).items():
        for step, value in pairs:
            per_step.setdefault(step, {})[key] = value
    for snap in snapshots:
        rebuilt = TrainingMetricsSnapshot.from_mlflow_dict(
            per_step[snap.epoch], epoch=snap.epoch, class_names=inverse(stored_keys)
        )
        assert rebuilt == snap


def test_inference_result_with_hostile_names_nan_inf(mlflow_server: Any, tmp_path: Path) -> None:
    det = detection(precision=math.nan, recall=math.inf, f1=-math.inf)
    keys = det.class_keys()
    result = InferenceMetricsResult(detection=det, mot=mot(), system=system())
    flat = result.to_mlflow_dict(keys)
    with recorder(mlflow_server.uri, tmp_path / "journal", experiment_type="infer") as rec:
        rec.log_metrics(flat)
    client = client_for(mlflow_server.uri)
    stored = client.get_run(rec.run_id).data.metrics
    assert sorted(stored) == sorted(flat)
    assert math.isnan(stored["det.precision"])
    assert stored["det.recall"] == pytest.approx(1.7976931348623157e308)
    rebuilt = InferenceMetricsResult.from_mlflow_dict(stored, inverse(keys))
    assert math.isnan(rebuilt.detection.precision or 0.0)
    assert (rebuilt.detection.recall, rebuilt.detection.f1) == (math.inf, -math.inf)
    rebuilt.detection.precision = result.detection.precision = 0.0
    assert rebuilt == result
    assert {n for n in HOSTILE_NAMES} <= set(rebuilt.detection.per_class_ap)


def test_tags_params_artifacts_and_status(mlflow_server: Any, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "best.txt").write_text("w")
    with recorder(mlflow_server.uri, tmp_path / "journal", tags={"team": "vision", "bad(tag)": "x"}) as rec:
        rec.log_params({"lr": 0.01, "epochs": 3, "device": None, "long": "v" * 7000, "person (0.5)": 1})
        rec.set_tags({"stage": "done"})
        rec.log_artifact(folder, "models")
        rec.log_text("hello", "notes/readme.txt")
        fig = plt.figure()
        rec.log_figure(fig, "plots/empty.png")
        plt.close(fig)
    client = client_for(mlflow_server.uri)
    run = client.get_run(rec.run_id)
    tags = run.data.tags
    assert tags["yololab.experiment_type"] == "train"
    assert {"yololab.version", "yololab.host", "yololab.python", "yololab.torch", "yololab.mlflow"} <= set(tags)
    assert (tags["team"], tags["bad_tag_"], tags["stage"]) == ("vision", "x", "done")
    params = run.data.params
    assert (params["lr"], params["epochs"], params["device"], params["person _0.5_"]) == ("0.01", "3", "None", "1")
    assert len(params["long"]) == 6000
    files = {a.path for d in ("models/weights", "notes", "plots") for a in client.list_artifacts(rec.run_id, d)}
    assert files == {"models/weights/best.txt", "notes/readme.txt", "plots/empty.png"}


def test_dataset_inputs_live_and_replayed_once(mlflow_server: Any, tmp_path: Path) -> None:
    """``log_input`` lands as MLflow run inputs (name, digest, source, context); replaying the journal adds none."""
    from yololab.adapters.mlflow_recorder import apply_record

    source = "postgresql://alice:s3cret@db/x"  # a credential in a source is redacted like every other value
    with recorder(mlflow_server.uri, tmp_path / "journal") as rec:
        rec.log_input(name="world/train", digest="0123456789abcdef", source="/data/world/data.yaml",
                      context="training", profile={"images": 600})  # fmt: skip
        rec.log_input(name="world/val", digest="fedcba9876543210", source=source, context="validation")
    client = client_for(mlflow_server.uri)

    def inputs() -> list[tuple[str, str, str, str, str]]:
        got = client.get_run(rec.run_id).inputs.dataset_inputs
        return sorted((d.dataset.name, d.dataset.digest, d.dataset.source, d.dataset.profile,
                       next(t.value for t in d.tags if t.key == "mlflow.data.context")) for d in got)  # fmt: skip

    first = inputs()
    assert first == [
        ("world/train", "0123456789abcdef", '{"uri": "/data/world/data.yaml"}', '{"images": 600}', "training"),
        ("world/val", "fedcba9876543210", '{"uri": "postgresql://alice:***@db/x"}', "{}", "validation"),
    ]
    for record in (r for r in read_journal(rec.journal_path) if r["op"] == "log_input"):
        apply_record(client, record, rec.run_id)  # what a second replay would send
    assert inputs() == first


@pytest.mark.parametrize(("error", "status"), [(ValueError, "FAILED"), (KeyboardInterrupt, "KILLED")])
def test_exception_ends_run(mlflow_server: Any, tmp_path: Path, error: type[BaseException], status: str) -> None:
    with pytest.raises(error), recorder(mlflow_server.uri, tmp_path / "journal") as rec:
        rec.log_metrics({"loss": 1.0}, step=0)
        raise error()
    assert client_for(mlflow_server.uri).get_run(rec.run_id).info.status == status


def test_default_store_is_local_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with ExperimentRecorder(experiment_name="local", experiment_type="quant") as rec:
        rec.log_metrics({"comparison.speedup_ratio": 1.5})
    assert rec.tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert_all_sent(rec)
    run = client_for(rec.tracking_uri).get_run(rec.run_id)
    assert (run.info.status, run.data.metrics) == ("FINISHED", {"comparison.speedup_ratio": 1.5})


# ---------------------------------------------------------------------------------------- unreachable servers


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """A TCP server on 127.0.0.1 that accepts connections and never answers; yields its URI."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


@contextlib.contextmanager
def refused_server() -> Iterator[str]:
    """A URI on which nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("unreachable", [refused_server, silent_server], ids=["nothing-listening", "never-answers"])
def test_unreachable_server_never_blocks_then_synced(
    unreachable: Any, mlflow_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logged = {step: {"det.mAP50": 0.1 * step, "det.ap.가방": math.nan, "sys.fps": math.inf} for step in range(3)}
    timings = []
    started = time.monotonic()
    options = {"run_name": "offline", "experiment_name": "yololab-offline", "flush_timeout_s": 1.0}
    with unreachable() as uri, recorder(uri, tmp_path / "journal", **options) as rec:
        for step, metrics in logged.items():
            t0 = time.monotonic()
            rec.log_metrics(metrics, step=step)
            timings.append(time.monotonic() - t0)
        rec.log_text("kept", "notes/offline.txt")
    total = time.monotonic() - started
    with capsys.disabled():
        print(f"\n[{unreachable.__name__}] log_metrics per step: {[round(t, 3) for t in timings]} s; run {total:.1f} s")
    assert max(timings) < 0.5  # the caller's thread only appends to the journal
    assert rec.run_id.startswith("local-")
    ops = [r["op"] for r in read_journal(rec.journal_path)]
    assert ops == ["start_run", "log_metrics", "log_metrics", "log_metrics", "log_artifact", "end_run"]
    assert not SyncState.load(rec.journal_path).done

    report = sync_journals([rec.journal_path], tracking_uri=mlflow_server.uri)
    assert (report.sent, report.skipped, report.failed, report.bad) == (6, 0, 0, 0)
    run_id = report.journals[0].runs[rec.run_key]
    client = client_for(mlflow_server.uri)
    run = client.get_run(run_id)
    assert (run.info.status, run.info.run_name) == ("FINISHED", "offline")
    assert run.info.start_time == read_journal(rec.journal_path)[0]["start_time_ms"]
    assert run.data.tags["yololab.experiment_type"] == "train"
    assert_logged_exactly_once(client, run_id, logged)
    assert [a.path for a in client.list_artifacts(run_id, "notes")] == ["notes/offline.txt"]
    again = sync_journals([rec.journal_path], tracking_uri=mlflow_server.uri)
    assert (again.sent, again.skipped, again.failed) == (0, 6, 0)
    assert_logged_exactly_once(client, run_id, logged)


def _training_loop(rec: ExperimentRecorder, work: Any, epochs: int = 20) -> tuple[list[float], list[float]]:
    """A stand-in training loop: per epoch some CPU work, then what a training logs; (epoch s, recorder s) each."""
    epoch_s, recorder_s = [], []
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        work()
        t1 = time.perf_counter()
        rec.log_metrics({f"det.m{k}": epoch + k / 100 for k in range(16)}, step=epoch)
        rec.set_tags({"yololab.last_epoch": str(epoch)})
        if epoch % 5 == 0:
            rec.log_text(f"checkpoint {epoch}", f"checkpoints/epoch_{epoch}.txt")
        t2 = time.perf_counter()
        epoch_s.append(t2 - t0)
        recorder_s.append(t2 - t1)
    return epoch_s, recorder_s


def test_silent_server_stalls_the_training_loop_not_at_all(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """20 epochs against a server that accepts and never answers vs the same loop on a local store."""
    import numpy as np

    matrix = np.random.default_rng(0).random((192, 192))

    def work() -> None:
        for _ in range(160):  # about 0.1 s on the 2-core test machine
            matrix @ matrix

    work()  # warm up BLAS
    measured = {}
    for name in ("local", "silent"):
        with contextlib.ExitStack() as stack:
            uri = f"sqlite:///{tmp_path / 'local.db'}" if name == "local" else stack.enter_context(silent_server())
            grace = {"flush_timeout_s": 1.0} if name == "silent" else {}  # a local store: its own default grace
            rec = stack.enter_context(recorder(uri, tmp_path / f"journal-{name}", **grace))
            measured[name] = _training_loop(rec, work)
        if name == "local":
            assert_all_sent(rec)
        else:
            assert len(read_journal(rec.journal_path)) == 1 + 20 * 2 + 4 + 1 and rec.run_id.startswith("local-")
    (local_epochs, local_rec), (silent_epochs, silent_rec) = measured["local"], measured["silent"]
    with capsys.disabled():
        print(
            f"\n[20 epochs] loop total: local store {sum(local_epochs):.2f} s, "
            f"silent server {sum(silent_epochs):.2f} s; "
            f"time inside recorder calls: local {sum(local_rec) * 1000:.0f} ms (max {max(local_rec) * 1000:.1f} ms), "
            f"silent {sum(silent_rec) * 1000:.0f} ms (max {max(silent_rec) * 1000:.1f} ms)"
        )
    assert max(silent_rec) < 0.5 and sum(silent_rec) < 1.0  # appends and fsyncs only: no 4 s network wait
    assert sum(silent_epochs) < sum(local_epochs) * 1.2 + 0.3  # the same loop, within noise


def test_refused_server_costs_the_caller_nothing(tmp_path: Path) -> None:
    with refused_server() as uri, recorder(uri, tmp_path / "journal", flush_timeout_s=0.5) as rec:
        t0 = time.monotonic()
        for step in range(50):
            rec.log_metrics({"loss": 1.0 / (step + 1)}, step=step)
        elapsed = time.monotonic() - t0
    assert elapsed < 1.0  # 50 fsynced journal appends, no network on this thread
    assert len(read_journal(rec.journal_path)) == 52


class ToggleProxy:
    """A TCP proxy to a real server that can be switched off: when off, it closes every new connection at once."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.up = False
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn = self._listener.accept()[0]
            except OSError:
                continue
            if not self.up:
                conn.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for src, dst in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._listener.close()


def wait_for(condition: Any, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_server_back_mid_run_sends_the_journal_in_order(mlflow_server: Any, tmp_path: Path) -> None:
    proxy = ToggleProxy(mlflow_server.port)
    logged = {step: {"loss": 1.0 / (step + 1), "det.ap.a/b": 0.5} for step in range(6)}
    try:
        options = {"run_name": "flaky", "breaker_cooldown_s": 0.3}
        with recorder(proxy.uri, tmp_path / "journal", **options) as rec:
            for step in range(3):
                rec.log_metrics(logged[step], step=step)
            assert rec.run_id.startswith("local-")
            proxy.up = True
            for step in range(3, 6):
                rec.log_metrics(logged[step], step=step)
            assert wait_for(lambda: not rec.run_id.startswith("local-"))  # created by the sender once it answers
    finally:
        proxy.close()
    client = client_for(mlflow_server.uri)
    assert client.get_run(rec.run_id).info.status == "FINISHED"
    assert_logged_exactly_once(client, rec.run_id, logged)
    assert_all_sent(rec)
    report = sync_journals([rec.journal_path], tracking_uri=mlflow_server.uri)
    assert (report.sent, report.failed) == (0, 0)
    assert report.skipped == len(read_journal(rec.journal_path)) == 8  # start_run + 6 steps + end_run


# ----------------------------------------------------------------------------------------------- kill the server


def test_server_killed_mid_run_then_sync(
    mlflow_server_factory: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = mlflow_server_factory()
    keys = detection().class_keys()
    logged: dict[int, dict[str, float]] = {}
    step_times = []
    options = {"run_name": "killed", "experiment_name": "yololab-kill", "flush_timeout_s": 2.0}
    with recorder(server.uri, tmp_path / "journal", **options) as rec:
        run_id = rec.run_id
        rec.log_params({"epochs": 8})
        for epoch in range(8):
            if epoch == 4:
                server.stop(kill=True)  # SIGKILL: the tracking server dies mid-run
            snap = TrainingMetricsSnapshot(epoch=epoch, detection=detection(mAP50=epoch / 10), system=system())
            logged[epoch] = snap.to_mlflow_dict(keys)
            t0 = time.monotonic()
            rec.log_metrics(logged[epoch], step=epoch)
            step_times.append(time.monotonic() - t0)
        rec.log_dict(keys, "class_keys.json")
    with capsys.disabled():
        print(f"\n[server killed at epoch 4] log_metrics per epoch: {[round(t, 3) for t in step_times]} s")
    assert max(step_times) < STEP_LIMIT_S
    assert rec.run_id == run_id and not run_id.startswith("local-")  # the run existed before the kill
    journal = rec.journal_path
    assert [r["op"] for r in read_journal(journal)].count("log_metrics") == 8
    assert len(SyncState.load(journal).done) < len(read_journal(journal))

    server.start()
    runner = CliRunner()
    first = runner.invoke(app, ["sync", str(journal)])
    assert first.exit_code == 0, first.output
    assert "yololab sync" in first.output
    client = client_for(server.uri)
    assert client.get_run(run_id).info.status == "FINISHED"
    assert_logged_exactly_once(client, run_id, logged)
    assert [a.path for a in client.list_artifacts(run_id)] == ["class_keys.json"]

    second = sync_journals([journal])
    assert (second.sent, second.failed) == (0, 0)
    assert second.skipped == len(read_journal(journal))
    # second line of defence: with the state file gone, MLflow ignores exact duplicate metrics
    state_path_of(journal).unlink()
    third = sync_journals([journal])
    assert third.failed == 0
    assert_logged_exactly_once(client, run_id, logged)


# -------------------------------------------------------------------------------------------------------- CLI


def test_cli_help_explains_itself() -> None:
    runner = CliRunner()
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0 and "sync" in top.output and "MLflow" in top.output
    sub = runner.invoke(app, ["sync", "--help"])
    assert sub.exit_code == 0
    text = " ".join(sub.output.split())
    for phrase in ("journal", "--tracking-uri", "never logged twice", "JOURNAL", "safe to run any number of times"):
        assert phrase in text


def test_cli_sync_without_journals(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["sync", "--journal-dir", str(tmp_path / "none")])
    assert result.exit_code == 0
    assert "nothing to sync" in " ".join(result.output.split())

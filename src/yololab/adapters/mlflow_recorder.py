"""The MLflow recorder every runner uses: one run per experiment, never stalled or crashed by the server.

:class:`ExperimentRecorder` wraps :class:`mlflow.tracking.MlflowClient` (never the fluent "active run"). Every call
to the server runs in a daemon thread and is abandoned after a deadline (``request_timeout_s * (max_retries + 1) +
0.5`` s, 4.5 s by default), and MLflow's own HTTP retries are bounded through ``MLFLOW_HTTP_REQUEST_*`` (read by
``mlflow.utils.rest_utils.http_request`` on every request). A call that fails (no answer, refused connection, HTTP
5xx/429) trips a circuit breaker: for ``breaker_cooldown_s`` every call goes straight to the local journal
(:mod:`yololab.journal`), then the server is probed again. When it answers, the recorder first replays its own
journal (the same code and state file as ``yololab sync``) and then logs directly again, so order is kept. A call
the server rejects (HTTP 4xx, e.g. a param changed value) is journaled too, and reported by ``yololab sync``.

:func:`sync_journals` replays journals later. Replaying twice sends nothing twice (per-journal state file); as a
second line of defence MLflow's SQL store ignores an exact duplicate metric (same key, value, timestamp, step:
``SqlAlchemyStore._log_metrics_once``). A run that could not be created while the server was down is created at
sync, with its original start time, name and tags, and ended with the recorded status.

Besides ``yololab.cli.commands.sync`` this is the only module importing MLflow; it does so lazily.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import platform
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

from yololab import __version__
from yololab.adapters.mlflow_params import resolve_tracking_uri
from yololab.journal import (
    DEFAULT_JOURNAL_DIR,
    Journal,
    SyncState,
    artifacts_dir_of,
    find_journals,
    new_record_id,
    read_journal,
)
from yololab.metrics.keys import MAX_KEY_LENGTH, is_valid_mlflow_key, to_mlflow_key

log = logging.getLogger(__name__)

T = TypeVar("T")
ExperimentType = Literal["train", "infer", "quant"]
RunStatus = Literal["FINISHED", "FAILED", "KILLED"]

MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
_LOCAL_STORE_DEADLINE_S = 120.0
_UPLOAD_BYTES_PER_S = 5e6


class ServerUnavailableError(Exception):
    """The tracking server did not answer in time, refused the connection, or answered 5xx/429."""


class CallRejectedError(Exception):
    """The tracking server answered and refused the request (HTTP 4xx); retrying now would not help."""


# --------------------------------------------------------------------------------------------------- helpers


def _is_remote(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def bound_mlflow_http(*, request_timeout_s: float, max_retries: int) -> None:
    """Bound MLflow's HTTP behaviour for this process (read by MLflow on every request).

    Sets ``MLFLOW_HTTP_REQUEST_TIMEOUT`` (whole seconds, at least 1), ``MLFLOW_HTTP_REQUEST_MAX_RETRIES``,
    ``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR=1`` (urllib3 sleeps 0 s before the first retry, then 2, 4, ... s) and
    ``MLFLOW_HTTP_REQUEST_BACKOFF_JITTER=0``. MLflow's defaults (120 s, 7 retries) blocked one call 247 s.
    """
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(max(1, round(request_timeout_s)))
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(max(0, int(max_retries)))
    os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = "1"
    os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_JITTER"] = "0"


def _classify(exc: BaseException) -> BaseException:
    """Map an MLflow exception to :class:`CallRejectedError` (4xx) or :class:`ServerUnavailableError` (other)."""
    status = getattr(exc, "get_http_status_code", None)
    if callable(status):
        code = int(status())
        if 400 <= code < 500 and code != 429:
            return CallRejectedError(str(exc))
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        return exc
    return ServerUnavailableError(f"{type(exc).__name__}: {exc}")


def call_with_deadline(fn: Callable[[], T], deadline_s: float) -> T:
    """Run ``fn`` in a daemon thread and wait at most ``deadline_s`` seconds for it.

    Args:
        fn: the MLflow call.
        deadline_s: seconds to wait; after that the call is abandoned (it finishes or fails in the background).

    Returns:
        What ``fn`` returned.

    Raises:
        ServerUnavailableError: no answer within the deadline, or a connection/server error.
        CallRejectedError: the server refused the request (HTTP 4xx).
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="yololab-mlflow-call", daemon=True)
    thread.start()
    thread.join(deadline_s)
    if thread.is_alive():
        raise ServerUnavailableError(f"no answer within {deadline_s:.1f} s")
    if "error" in box:
        raise _classify(box["error"]) from box["error"]
    return box.get("value")  # type: ignore[return-value]


def clean_key(key: str) -> str:
    """``key`` when MLflow accepts it, else its :func:`~yololab.metrics.keys.to_mlflow_key` form (with a warning)."""
    key = str(key)
    if is_valid_mlflow_key(key):
        return key
    fixed = to_mlflow_key(key, max_length=MAX_KEY_LENGTH)
    log.warning("MLflow key %r is not valid; logged as %r", key, fixed)
    return fixed


def _clean_value(key: str, value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        log.warning("metric %r has non-numeric value %r; not logged", key, value)
        return None


def _text(value: Any, limit: int, what: str, key: str) -> str:
    text = str(value)
    if len(text) > limit:
        log.warning("%s %r is %d characters long; truncated to MLflow's limit of %d", what, key, len(text), limit)
        text = text[:limit]
    return text


def _now_ms() -> int:
    return int(time.time() * 1000)


def _dist_version(*names: str) -> str | None:
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            return metadata.version(name)
    return None


def _git_commit(cwd: Path | None = None) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--verify", "-q", "HEAD"],
            cwd=cwd or Path.cwd(),
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and commit else None


def default_tags(experiment_type: str) -> dict[str, str]:
    """The tags every yololab run gets: type, versions, host, and the git commit when the cwd has one."""
    tags = {
        "yololab.experiment_type": experiment_type,
        "yololab.version": __version__,
        "yololab.host": socket.gethostname(),
        "yololab.python": platform.python_version(),
    }
    for tag, dists in (
        ("torch", ("torch",)),
        ("ultralytics", ("ultralytics",)),
        ("mlflow", ("mlflow", "mlflow-skinny")),
    ):
        tags[f"yololab.{tag}"] = _dist_version(*dists) or "not installed"
    commit = _git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
    return tags


def _make_client(tracking_uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


# ------------------------------------------------------------------------------------------ applying records


def _get_or_create_experiment(client: Any, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name)
    except Exception as exc:  # created concurrently by another process
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise exc
        return experiment.experiment_id


def _create_run(client: Any, record: Mapping[str, Any]) -> str:
    experiment_id = _get_or_create_experiment(client, record["experiment_name"])
    run = client.create_run(
        experiment_id, start_time=record["start_time_ms"], tags=record["tags"], run_name=record.get("run_name")
    )
    return run.info.run_id


def apply_record(client: Any, record: Mapping[str, Any], run_id: str | None, local: Path | None = None) -> str | None:
    """Send one journal-format record through ``client`` (the single code path of live logging and replay).

    Args:
        client: an ``MlflowClient``.
        record: a record as described in :mod:`yololab.journal`.
        run_id: the server run id (ignored for ``start_run``).
        local: for ``log_artifact``, the file or folder to upload.

    Returns:
        The new run id for ``start_run``, else ``None``.
    """
    from mlflow.entities import Metric, Param, RunTag

    op = record["op"]
    if op == "start_run":
        return _create_run(client, record)
    if run_id is None:
        raise CallRejectedError(
            f"record {record['id']}: run {record['run_key']} was never created (no start_run record)"
        )
    if op == "log_metrics":
        metrics = [Metric(k, v, ts, step) for k, v, ts, step in record["metrics"]]
        client.log_batch(run_id, metrics=metrics, synchronous=True)
    elif op == "log_params":
        client.log_batch(run_id, params=[Param(k, v) for k, v in record["params"].items()], synchronous=True)
    elif op == "set_tags":
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in record["tags"].items()], synchronous=True)
    elif op == "log_artifact":
        if local is None or not local.exists():
            raise CallRejectedError(f"record {record['id']}: artifact file {local} is missing")
        if local.is_dir():
            client.log_artifacts(run_id, str(local), record.get("artifact_path"))
        else:
            client.log_artifact(run_id, str(local), record.get("artifact_path"))
    elif op == "end_run":
        client.set_terminated(run_id, status=record["status"], end_time=record["end_time_ms"])
    else:
        raise CallRejectedError(f"record {record['id']}: unknown op {op!r}")
    return None


def _deadline_for(record: Mapping[str, Any], local: Path | None, base_s: float) -> float:
    if record["op"] != "log_artifact" or local is None or not local.exists():
        return base_s
    files = [local] if local.is_file() else [p for p in local.rglob("*") if p.is_file()]
    return base_s + sum(p.stat().st_size for p in files) / _UPLOAD_BYTES_PER_S


# ------------------------------------------------------------------------------------------------ replay / sync


@dataclass
class JournalSyncReport:
    """Outcome of replaying one journal (counts are records).

    Attributes:
        path: the journal.
        sent: records accepted by the server now.
        skipped: records already synced before.
        failed: records not sent (server unavailable or request rejected); they are retried by the next sync.
        errors: one line per failure.
        runs: local run key -> server run id, for the runs in this journal.
        unavailable: True when replay stopped because the server could not be reached.
    """

    path: Path
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    runs: dict[str, str] = field(default_factory=dict)
    unavailable: bool = False


@dataclass
class SyncReport:
    """Outcome of :func:`sync_journals`: one :class:`JournalSyncReport` per journal, and totals."""

    journals: list[JournalSyncReport] = field(default_factory=list)

    @property
    def sent(self) -> int:
        """Records sent now, over all journals."""
        return sum(j.sent for j in self.journals)

    @property
    def skipped(self) -> int:
        """Records skipped because an earlier sync had sent them."""
        return sum(j.skipped for j in self.journals)

    @property
    def failed(self) -> int:
        """Records that could not be sent."""
        return sum(j.failed for j in self.journals)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return self.failed == 0


def _groups(records: list[dict[str, Any]], done: set[str]) -> Iterator[list[dict[str, Any]]]:
    """Pending records in order; consecutive metric records of one run merged up to one batch (1000 metrics)."""
    group: list[dict[str, Any]] = []
    size = 0
    for record in records:
        if record["id"] in done:
            continue
        n = len(record.get("metrics", ()))
        mergeable = (
            record["op"] == "log_metrics"
            and group
            and group[0]["op"] == "log_metrics"
            and group[0]["run_key"] == record["run_key"]
            and size + n <= MAX_METRICS_PER_BATCH
        )
        if group and not mergeable:
            yield group
            group, size = [], 0
        group.append(record)
        size += n
        if record["op"] != "log_metrics":
            yield group
            group, size = [], 0
    if group:
        yield group


def _merged(group: list[dict[str, Any]]) -> dict[str, Any]:
    if len(group) == 1:
        return group[0]
    return {**group[0], "metrics": [m for r in group for m in r["metrics"]]}


def replay_journal(
    path: Path, client: Any, *, deadline_s: float, call: Callable[[Callable[[], T], float], T] = call_with_deadline
) -> JournalSyncReport:
    """Send every record of one journal not sent before, in order, and save the progress after each batch.

    Stops at the first :class:`ServerUnavailableError` (the rest count as failed); a rejected record counts as failed
    and replay goes on. Records already in the state file are skipped.

    Args:
        path: the journal.
        client: the ``MlflowClient`` to send through.
        deadline_s: seconds allowed per request (artifacts get more, by size).
        call: how to run one request with a deadline.

    Returns:
        What happened.
    """
    path = Path(path)
    records = read_journal(path)
    state = SyncState.load(path)
    report = JournalSyncReport(path=path, skipped=sum(r["id"] in state.done for r in records))
    pending = [list(g) for g in _groups(records, state.done)]
    for index, group in enumerate(pending):
        record = _merged(group)
        run_id = record.get("server_run_id") or state.runs.get(record["run_key"])
        local = artifacts_dir_of(path) / record["copy"] if record["op"] == "log_artifact" else None
        try:
            if record["op"] == "start_run" and run_id:
                new_run_id = None
            else:
                send = functools.partial(apply_record, client, record, run_id, local)
                new_run_id = call(send, _deadline_for(record, local, deadline_s))
        except ServerUnavailableError as exc:
            report.unavailable = True
            report.failed += sum(len(g) for g in pending[index:])
            report.errors.append(f"{path.name}: server unavailable ({exc}); {report.failed} record(s) left")
            break
        except CallRejectedError as exc:
            report.failed += len(group)
            report.errors.append(f"{path.name}: {record['op']} rejected: {exc}")
            continue
        if new_run_id:
            state.runs[record["run_key"]] = new_run_id
        state.mark_done(r["id"] for r in group)
        state.save(path)
        report.sent += len(group)
    report.runs = {**state.runs, **{r["run_key"]: r["server_run_id"] for r in records if r.get("server_run_id")}}
    return report


def sync_journals(
    paths: Sequence[Path] | None = None,
    *,
    tracking_uri: str | None = None,
    journal_dir: Path | None = None,
    request_timeout_s: float = 10.0,
    max_retries: int = 2,
) -> SyncReport:
    """Replay journals into the tracking server; safe to run any number of times.

    Args:
        paths: journals to replay; ``None`` = every journal in ``journal_dir``.
        tracking_uri: send here instead of each journal's recorded tracking URI.
        journal_dir: where to look when ``paths`` is ``None`` (default ``./.yololab/journal``).
        request_timeout_s: HTTP timeout per request.
        max_retries: HTTP retries per request.

    Returns:
        Per-journal and total counts of records sent, skipped (already synced) and failed.
    """
    bound_mlflow_http(request_timeout_s=request_timeout_s, max_retries=max_retries)
    journals = [Path(p) for p in paths] if paths is not None else find_journals(journal_dir or DEFAULT_JOURNAL_DIR)
    deadline_s = request_timeout_s * (max_retries + 1) + 1.0
    clients: dict[str, Any] = {}
    report = SyncReport()
    for path in journals:
        records = read_journal(path) if path.exists() else []
        if not records:
            report.journals.append(JournalSyncReport(path=path, errors=[] if path.exists() else [f"{path}: missing"]))
            continue
        uri = resolve_tracking_uri(tracking_uri or records[0]["tracking_uri"])
        if uri not in clients:
            clients[uri] = _make_client(uri)
        limit = deadline_s if _is_remote(uri) else max(deadline_s, _LOCAL_STORE_DEADLINE_S)
        report.journals.append(replay_journal(path, clients[uri], deadline_s=limit))
    return report


# --------------------------------------------------------------------------------------------------- recorder


class _Breaker:
    """Circuit breaker: after a failure, calls skip the server for ``cooldown_s``, then one probe is allowed."""

    def __init__(self, cooldown_s: float) -> None:
        self.cooldown_s = cooldown_s
        self._open_until = 0.0

    def allows(self) -> bool:
        return time.monotonic() >= self._open_until

    def trip(self) -> None:
        self._open_until = time.monotonic() + self.cooldown_s


class ExperimentRecorder:
    """One MLflow run for one experiment; logging never blocks long and never raises because of the server.

    Use it as a context manager: leaving the block normally ends the run ``FINISHED``, a ``KeyboardInterrupt`` ends
    it ``KILLED`` and any other exception ``FAILED``, with the tag ``yololab.failure_reason`` (``Type: message``;
    the exception propagates).

    Args:
        experiment_name: MLflow experiment (created when missing).
        experiment_type: ``train``, ``infer`` or ``quant`` (tag ``yololab.experiment_type``).
        run_name: MLflow run name (MLflow picks one when ``None``).
        tracking_uri: ``None`` -> ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``.
        journal_dir: where unsent calls are journaled; ``None`` -> ``./.yololab/journal``.
        tags: extra run tags (added to the ``yololab.*`` tags).
        request_timeout_s: HTTP timeout of one request.
        max_retries: HTTP retries of one request; one call gives up after
            ``request_timeout_s * (max_retries + 1) + 0.5`` s (4.5 s by default).
        breaker_cooldown_s: after a failure, how long calls go straight to the journal before the server is probed.

    Attributes:
        run_id: the server run id, or ``local-<run_key>`` while the run exists only in the journal.
        run_key: local key of this run (also the journal's file name).
        journal_path: the journal file, or ``None`` when nothing had to be journaled.
    """

    def __init__(
        self,
        *,
        experiment_name: str,
        experiment_type: ExperimentType,
        run_name: str | None = None,
        tracking_uri: str | None = None,
        journal_dir: str | Path | None = None,
        tags: Mapping[str, str] | None = None,
        request_timeout_s: float = 2.0,
        max_retries: int = 1,
        breaker_cooldown_s: float = 30.0,
    ) -> None:
        self.experiment_name = experiment_name
        self.experiment_type = experiment_type
        self.run_name = run_name
        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        self.run_key = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        self.run_id = f"local-{self.run_key}"
        self.journal_path: Path | None = None
        self._journal = Journal(Path(journal_dir or DEFAULT_JOURNAL_DIR).resolve() / f"{self.run_key}.jsonl")
        self._server_run_id: str | None = None
        self._pending = False
        self._ended = False
        self._lock = threading.RLock()
        self._breaker = _Breaker(breaker_cooldown_s)
        deadline = request_timeout_s * (max_retries + 1) + 0.5
        self._deadline_s = deadline if _is_remote(self.tracking_uri) else max(deadline, _LOCAL_STORE_DEADLINE_S)
        bound_mlflow_http(request_timeout_s=request_timeout_s, max_retries=max_retries)
        try:
            self._client: Any = _make_client(self.tracking_uri)
        except Exception as exc:  # e.g. an unsupported URI scheme: keep the experiment going, journal everything
            log.warning("cannot create an MLflow client for %s (%s); journaling every call", self.tracking_uri, exc)
            self._client = None
        all_tags = {**default_tags(experiment_type), **(tags or {})}
        start = {"tags": self._clean_tags(all_tags), "run_name": run_name, "start_time_ms": _now_ms()}
        self._dispatch("start_run", start)

    # -- context manager ------------------------------------------------------------------------------------
    def __enter__(self) -> ExperimentRecorder:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.end("FINISHED")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end("KILLED")
        else:
            reason = f"{exc_type.__name__}: {exc}" if exc is not None else exc_type.__name__
            self.set_tags({"yololab.failure_reason": reason[:4000]})
            self.end("FAILED")

    # -- public logging API ---------------------------------------------------------------------------------
    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log params (values stringified, cut to MLflow's 6000 characters; keys made valid), 100 per request."""
        items = {clean_key(k): _text(v, MAX_PARAM_VALUE_LENGTH, "param", k) for k, v in params.items()}
        keys = list(items)
        for i in range(0, len(keys), MAX_PARAMS_PER_BATCH):
            self._dispatch("log_params", {"params": {k: items[k] for k in keys[i : i + MAX_PARAMS_PER_BATCH]}})

    def log_metrics(self, metrics: Mapping[str, float], *, step: int | None = None) -> None:
        """Log metrics at ``step`` (default 0) with one timestamp, up to 1000 per request.

        ``None`` and non-numeric values are skipped (absent, never sent); NaN is stored as NaN and ``±inf`` as
        ``±1.797e308`` by MLflow (``from_mlflow_dict`` maps it back).
        """
        timestamp, step = _now_ms(), int(step or 0)
        rows = []
        for key, value in metrics.items():
            number = _clean_value(key, value)
            if number is not None:
                rows.append([clean_key(key), number, timestamp, step])
        for i in range(0, len(rows), MAX_METRICS_PER_BATCH):
            self._dispatch("log_metrics", {"metrics": rows[i : i + MAX_METRICS_PER_BATCH]})

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Set run tags (keys made valid, values stringified and cut to 8000 characters)."""
        if tags:
            self._dispatch("set_tags", {"tags": self._clean_tags(tags)})

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Upload a file, or a folder as ``artifact_path/<folder name>/...``; journaled as a copy when it fails."""
        local = Path(path).resolve()
        if not local.exists():
            log.warning("artifact %s does not exist; not logged", local)
            return
        dest = artifact_path
        if local.is_dir():
            dest = f"{artifact_path}/{local.name}" if artifact_path else local.name
        self._dispatch("log_artifact", {"artifact_path": dest, "source": str(local), "is_dir": local.is_dir()})

    def log_dict(self, data: Any, artifact_file: str) -> None:
        """Write ``data`` as JSON (or YAML for ``.yaml``/``.yml``) to ``artifact_file`` in the run's artifacts."""
        if artifact_file.endswith((".yaml", ".yml")):
            import yaml

            text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
        else:
            text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
        self.log_text(text, artifact_file)

    def log_text(self, text: str, artifact_file: str) -> None:
        """Write ``text`` (UTF-8) to ``artifact_file`` (a relative path like ``dir/name.txt``) in the artifacts."""
        with self._temp_artifact(artifact_file) as (local, artifact_path):
            local.write_text(text, encoding="utf-8")
            self.log_artifact(local, artifact_path)

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        """Save a matplotlib figure (``figure.savefig``) to ``artifact_file`` in the artifacts."""
        with self._temp_artifact(artifact_file) as (local, artifact_path):
            figure.savefig(local)
            self.log_artifact(local, artifact_path)

    def end(self, status: RunStatus = "FINISHED") -> None:
        """End the run with ``status``; a second call does nothing. Never raises because of the server."""
        if self._ended:
            return
        self._ended = True
        self._dispatch("end_run", {"status": status, "end_time_ms": _now_ms()})
        if self.journal_path is not None and self._pending:
            log.warning(
                "MLflow run %s: some calls could not be sent to %s; they are in %s - run `yololab sync` later",
                self.run_id,
                self.tracking_uri,
                self.journal_path,
            )

    # -- internals ------------------------------------------------------------------------------------------
    @staticmethod
    def _clean_tags(tags: Mapping[str, Any]) -> dict[str, str]:
        return {clean_key(k): _text(v, MAX_TAG_VALUE_LENGTH, "tag", k) for k, v in tags.items() if v is not None}

    @contextlib.contextmanager
    def _temp_artifact(self, artifact_file: str) -> Iterator[tuple[Path, str | None]]:
        parent, _, name = artifact_file.strip("/").rpartition("/")
        with tempfile.TemporaryDirectory(prefix="yololab-artifact-") as tmp:
            yield Path(tmp) / name, parent or None

    def _dispatch(self, op: str, payload: dict[str, Any]) -> None:
        """Send one record now when the server is usable, else append it to the journal."""
        with self._lock:
            if self._ended and op != "end_run":
                log.warning("MLflow run %s already ended; %s ignored", self.run_id, op)
                return
            record = {
                "id": new_record_id(),
                "op": op,
                "time_ms": _now_ms(),
                "tracking_uri": self.tracking_uri,
                "experiment_name": self.experiment_name,
                "experiment_type": self.experiment_type,
                "run_key": self.run_key,
                **payload,
            }
            try:
                if self._send(record):
                    return
            except KeyboardInterrupt:
                self._write_journal(record)
                raise
            self._write_journal(record)

    def _send(self, record: dict[str, Any]) -> bool:
        """Try the server (flushing the journal first); True when the record was accepted."""
        if self._client is None or not self._breaker.allows():
            return False
        try:
            if self._pending and not self._flush():
                return False
            local = Path(record["source"]) if record["op"] == "log_artifact" else None
            record["server_run_id"] = self._server_run_id
            deadline = _deadline_for(record, local, self._deadline_s)
            run_id = self._server_run_id
            new_run_id = call_with_deadline(lambda: apply_record(self._client, record, run_id, local), deadline)
        except ServerUnavailableError as exc:
            self._on_unavailable(exc)
            return False
        except CallRejectedError as exc:
            log.warning("MLflow rejected %s for run %s: %s; journaled", record["op"], self.run_id, exc)
            record["rejected"] = str(exc)
            return False
        if new_run_id:
            self._server_run_id = self.run_id = new_run_id
        return True

    def _flush(self) -> bool:
        """Replay this run's journal before logging directly again; True when the server took everything."""
        assert self.journal_path is not None
        report = replay_journal(self.journal_path, self._client, deadline_s=self._deadline_s)
        if report.unavailable:
            self._on_unavailable(ServerUnavailableError(report.errors[-1]))
            return False
        self._pending = False
        server_run_id = report.runs.get(self.run_key)
        if server_run_id:
            self._server_run_id = self.run_id = server_run_id
            log.info("MLflow server is back: replayed %d journaled call(s) into run %s", report.sent, server_run_id)
        return self._server_run_id is not None

    def _on_unavailable(self, exc: BaseException) -> None:
        self._breaker.trip()
        log.warning(
            "MLflow server %s unavailable (%s); journaling to %s, next try in %.1f s",
            self.tracking_uri,
            exc,
            self._journal.path,
            self._breaker.cooldown_s,
        )

    def _write_journal(self, record: dict[str, Any]) -> None:
        record["server_run_id"] = self._server_run_id
        if record["op"] == "log_artifact":
            self._copy_artifact(record)
        self._journal.append(record)
        self.journal_path = self._journal.path
        if "rejected" not in record:
            self._pending = True

    def _copy_artifact(self, record: dict[str, Any]) -> None:
        source = Path(record["source"])
        relative = f"{record['id']}/{source.name}"
        target = self._journal.artifacts_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
        record["copy"] = relative

"""The MLflow recorder every runner uses: a write-ahead journal and a background sender, one run per experiment.

:class:`ExperimentRecorder` never talks to the server on the caller's thread. Every call (run start, params,
metrics, tags, artifacts, the final status) is first appended to the run's journal (:mod:`yololab.journal`: one
checksummed line, fsynced) and then handed to a background sender thread, which drains the journal to the server
in order through :class:`mlflow.tracking.MlflowClient` (never the fluent "active run"). The training thread never
waits on the network, whether the server is dead, silent or slow. This is the design W&B uses (the training
process writes locally, a separate sender uploads).

The sender bounds every request (``MLFLOW_HTTP_REQUEST_*``, and a deadline of ``request_timeout_s *
(max_retries + 1) + 0.5`` s after which a call is abandoned). What a failure means decides what happens next:

* no answer, refused connection, HTTP 5xx/429: an outage. The sender waits (0.5 s, doubling up to
  ``breaker_cooldown_s``) and tries again; nothing is lost, since everything is in the journal.
* HTTP 401/403: an authentication or permission error (:class:`TrackingAuthError`). At run start the recorder
  raises it before any work is done (unless ``offline``); later in a run the sender stops at once (no retry loop),
  says so, and leaves the rest in the journal for ``yololab sync``.
* another HTTP 4xx: the server rejected that one request (e.g. a param changed value); it is reported and skipped,
  and ``yololab sync`` tries it again.

When the run ends, the sender gets ``flush_timeout_s`` to finish; whatever is left is named in a warning and
waits for ``yololab sync`` (:func:`sync_journals`), which replays journals with the same code and the same state
file. Exactly once: the state file lists every record the server accepted (so replaying twice sends nothing twice),
a run is found again by its ``yololab.run_key`` tag before one is created, and MLflow's SQL store ignores an exact
duplicate metric (same key, value, timestamp, step: ``SqlAlchemyStore._log_metrics_once``).

Secrets never leave the process: credentials in the tracking URI are removed from it before it is written or
printed anywhere and reach MLflow through ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD`` of this
process; params and tags follow one redaction rule (:func:`yololab.adapters.mlflow_params.redact_field`); MLflow's
own "View run at" line is replaced by yololab's (same URI without credentials).

A local SQLite store is created or migrated under a file lock (``<db>.lock``), so that several processes starting
together on a fresh ``sqlite:///mlflow.db`` do not race MLflow's schema migration; read-only callers
(``open_client(..., create_store=False)``) never create a store.

Besides ``yololab.adapters.mlflow_reader`` this is the only module importing MLflow; it does so lazily - and, where
the process has not imported MLflow yet, in a helper process that makes the calls
(:mod:`yololab.adapters.mlflow_process`).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import logging
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

from yololab import __version__
from yololab.adapters.mlflow_params import redact_field, redact_value, resolve_tracking_uri, split_credentials
from yololab.adapters.mlflow_process import ClientProcess, acquire, release, use_helper
from yololab.journal import (
    DEFAULT_JOURNAL_DIR,
    DIR_MODE,
    BadRecord,
    Journal,
    JournalError,
    SyncState,
    artifacts_dir_of,
    find_journals,
    journal_lock,
    lock_path_of,
    make_private_dir,
    new_record_id,
    scan_journal,
    state_path_of,
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
RUN_KEY_TAG = "yololab.run_key"
"""Tag holding the local run key: how a replay finds a run that an abandoned request may have created."""
_LOCAL_STORE_DEADLINE_S = 120.0
_CLIENT_OPEN_TIMEOUT_S = 60.0
"""Longest wait at the start of a run on a server for MLflow to be imported and the client opened (not the server's
time: the start deadline counts from then)."""
_STORE_LOCK_TIMEOUT_S = 300.0
_UPLOAD_BYTES_PER_S = 5e6
_FIRST_RETRY_S = 0.5


class ServerUnavailableError(Exception):
    """The tracking server did not answer in time, refused the connection, or answered 5xx/429."""


class CallRejectedError(Exception):
    """The tracking server answered and refused the request (HTTP 4xx); retrying now would not help."""


class TrackingAuthError(ValueError):
    """The tracking server refused the credentials (HTTP 401) or the permission (HTTP 403).

    Attributes:
        status: the HTTP status, 401 or 403 (``None`` when unknown).
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------------------------------- helpers


def _is_remote(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def bound_mlflow_http(*, request_timeout_s: float, max_retries: int) -> None:
    """Bound MLflow's HTTP behaviour for this process (read by MLflow on every request) and silence its URL print.

    Sets ``MLFLOW_HTTP_REQUEST_TIMEOUT`` (whole seconds, at least 1), ``MLFLOW_HTTP_REQUEST_MAX_RETRIES``,
    ``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR=1`` (urllib3 sleeps 0 s before the first retry, then 2, 4, ... s),
    ``MLFLOW_HTTP_REQUEST_BACKOFF_JITTER=0``, ``MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT=true`` (MLflow's
    "View run at" line, printed with the tracking URI as given; yololab prints its own without credentials) and,
    unless set already, ``MLFLOW_DISABLE_TELEMETRY=true`` (MLflow's usage telemetry connects to
    ``config.mlflow-telemetry.io`` when ``mlflow`` is imported: yololab talks to the tracking server only).
    MLflow's defaults (120 s, 7 retries) blocked one call 247 s.
    """
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(max(1, round(request_timeout_s)))
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(max(0, int(max_retries)))
    os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = "1"
    os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_JITTER"] = "0"
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def use_credentials(uri: str) -> str:
    """The URI without credentials; credentials it carried become ``MLFLOW_TRACKING_USERNAME``/``_PASSWORD``.

    MLflow reads those variables on every request, so the credentials work without ever being part of a URI that
    MLflow, yololab or a log prints. They are set in this process only (children inherit them; nothing is written).
    """
    clean, user, password = split_credentials(uri)
    if user is not None:
        os.environ["MLFLOW_TRACKING_USERNAME"] = user
    if password is not None:
        os.environ["MLFLOW_TRACKING_PASSWORD"] = password
    return clean


def _http_status(exc: BaseException) -> int | None:
    status = getattr(exc, "get_http_status_code", None)
    if callable(status):
        with contextlib.suppress(Exception):
            return int(status())
    return None


def _classify(exc: BaseException) -> BaseException:
    """Map an MLflow exception to an auth error (401/403), a rejection (other 4xx) or an outage (anything else).

    Messages pass through :func:`redact_value`.
    """
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        return exc
    if isinstance(exc, ServerUnavailableError | CallRejectedError | TrackingAuthError):
        return exc
    code = _http_status(exc)
    message = redact_value(" ".join(str(exc).split()))[:600]
    if code in (401, 403):
        return TrackingAuthError(f"HTTP {code}: {message}", status=code)
    if code is not None and 400 <= code < 500 and code != 429:
        return CallRejectedError(message)
    return ServerUnavailableError(_outage_reason(exc, message))


_OUTAGES = (
    (("ReadTimeoutError", "Read timed out", "timed out"), "no answer: the request timed out"),
    (("ConnectionRefusedError", "Connection refused"), "connection refused: nothing listens there"),
    (("RemoteDisconnected", "ConnectionResetError", "Connection aborted", "connection broken"),
     "the server closed the connection without answering"),
    (("NameResolutionError", "Name or service not known", "nodename nor servname", "getaddrinfo failed"),
     "the host name does not resolve"),
)  # fmt: skip


def _outage_reason(exc: BaseException, message: str) -> str:
    """A short, credential-free reason for an outage (``connection refused ...``), the HTTP status when there is one."""
    for needles, reason in _OUTAGES:  # transport failures first: MLflow wraps them as INTERNAL_ERROR (500) too
        if any(n in message for n in needles):
            return reason
    code = _http_status(exc)
    if code is not None and code >= 429:
        return f"HTTP {code}: {message[:200]}"
    return redact_value(f"{type(exc).__name__}: {message[:300]}")


def auth_problem(error: TrackingAuthError, uri: str, experiment: str) -> str:
    """One sentence naming an authentication (401) or permission (403) error, the user and the server."""
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    who = f"user {user!r}" if user else "no user (MLFLOW_TRACKING_USERNAME is not set)"
    if error.status == 403:
        return f"MLflow server {uri} denied {who} permission to write to experiment {experiment!r} ({error})"
    return f"MLflow server {uri} refused the credentials of {who} ({error})"


def call_with_deadline(fn: Callable[[], T], deadline_s: float) -> T:
    """Run ``fn`` in a daemon thread and wait at most ``deadline_s`` seconds for it.

    Args:
        fn: the MLflow call.
        deadline_s: seconds to wait; after that the call is abandoned (it finishes or fails in the background).

    Returns:
        What ``fn`` returned.

    Raises:
        ServerUnavailableError: no answer within the deadline, or a connection/server error.
        TrackingAuthError: the server refused the credentials or the permission (HTTP 401/403).
        CallRejectedError: the server refused the request (another HTTP 4xx).
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
        raise _classify(box["error"]) from None
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
    text = redact_field(key, value)
    if len(text) > limit:
        log.warning("%s %r is %d characters long; truncated to MLflow's limit of %d", what, key, len(text), limit)
        text = text[:limit]
    return text


def _now_ms() -> int:
    return int(time.time() * 1000)


def metric_batches(metrics: Mapping[str, Any], *, step: int | None) -> list[list[list[Any]]]:
    """The ``log_metrics`` payloads of one call: ``[key, value, timestamp_ms, step]`` rows, 1000 per batch.

    ``None`` and non-numeric values are left out; keys are made valid (:func:`clean_key`); every row carries the
    same timestamp (Unix ms, now) and ``step`` (default 0).
    """
    timestamp, step = _now_ms(), int(step or 0)
    rows = []
    for key, value in metrics.items():
        number = _clean_value(key, value)
        if number is not None:
            rows.append([clean_key(key), number, timestamp, step])
    return [rows[i : i + MAX_METRICS_PER_BATCH] for i in range(0, len(rows), MAX_METRICS_PER_BATCH)]


@functools.cache
def _dist_version(*names: str) -> str | None:
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            return metadata.version(name)
    return None


def _git_commit(cwd: Path | None = None) -> str | None:
    return _git_commit_in(cwd or Path.cwd())


@functools.cache
def _git_commit_in(cwd: Path) -> str | None:
    """The commit checked out in ``cwd`` (asked once per folder and process: a sweep opens a run per format)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--verify", "-q", "HEAD"],
            cwd=cwd,
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
    """The tags every yololab run gets: type, versions, host, source, and the git commit when the cwd has one.

    ``mlflow.source.name`` (``yololab train`` ...) and ``mlflow.source.type`` fill the UI's *Source* column.
    """
    tags = {
        "mlflow.source.name": f"yololab {experiment_type}",
        "mlflow.source.type": "LOCAL",
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


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, else ``None``."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return None
    rest = uri[len(prefix) :].split("?", 1)[0]
    return None if rest in ("", ":memory:") else Path(rest).resolve()


MLFLOW_LOGGERS = ("mlflow", "alembic")
"""The loggers MLflow configures with its own stderr handler when imported (``mlflow.store.db.utils``,
``mlflow.tracking.*``, ... are children of ``mlflow``; alembic logs the store's migrations)."""


def quiet_mlflow_logs() -> None:
    """MLflow's INFO lines off (``Creating initial MLflow database tables...``, ``Updating database tables``, ...).

    They are MLflow's business, not the experiment's: a yololab command shows its own progress. Warnings and
    errors still pass. ``MLFLOW_LOGGING_LEVEL``, when set, is the user's choice and wins. Call it after ``mlflow`` is
    imported (its import configures these loggers).
    """
    if os.environ.get("MLFLOW_LOGGING_LEVEL"):
        return
    for name in MLFLOW_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)


def open_client(tracking_uri: str, *, create_store: bool = True) -> Any:
    """An ``MlflowClient`` for a URI without credentials; a SQLite store is created/migrated under a file lock.

    Args:
        tracking_uri: the resolved tracking URI (see :func:`use_credentials` for credentials).
        create_store: when false and the URI names a SQLite file that does not exist, raise instead of creating
            it (read-only commands such as ``yololab compare``).

    Raises:
        FileNotFoundError: ``create_store`` is false and the SQLite store does not exist.
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # read when mlflow is first imported
    from mlflow.tracking import MlflowClient

    quiet_mlflow_logs()
    db = sqlite_path(tracking_uri)
    if db is None:
        return MlflowClient(tracking_uri=tracking_uri)
    if not create_store and not db.exists():
        raise FileNotFoundError(
            f"no MLflow store at {db} (tracking URI {tracking_uri}): nothing has been logged there; give the store "
            "runs were logged to with --tracking-uri or MLFLOW_TRACKING_URI"
        )
    from filelock import FileLock

    db.parent.mkdir(parents=True, exist_ok=True)
    # MLflow creates the tables when they are missing and migrates them otherwise, with no lock of its own: two
    # processes doing so at once leave the file half-migrated. One process at a time; the others then find it ready.
    with FileLock(str(db) + ".lock", timeout=_STORE_LOCK_TIMEOUT_S):
        client = MlflowClient(tracking_uri=tracking_uri)
        with contextlib.suppress(Exception):
            client._get_registry_client()  # the model registry's store initialises the same file: under the lock
    return client


# ------------------------------------------------------------------------------------------ applying records


EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}
"""Set on every experiment yololab creates: MLflow's UI (3.17+) then opens it in the model-training view, not the
GenAI one (traces, tokens)."""


def _get_or_create_experiment(client: Any, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if "mlflow.experimentKind" not in (experiment.tags or {}):
            with contextlib.suppress(Exception):  # a read-only user: the UI view is a nicety, not a measurement
                for key, value in EXPERIMENT_TAGS.items():
                    client.set_experiment_tag(experiment.experiment_id, key, value)
        return experiment.experiment_id
    try:
        return client.create_experiment(name, tags=EXPERIMENT_TAGS)
    except Exception as exc:  # created concurrently by another process
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise exc
        return experiment.experiment_id


def _run_with_key(client: Any, experiment_id: str, run_key: str) -> str | None:
    found = client.search_runs([experiment_id], filter_string=f"tags.`{RUN_KEY_TAG}` = '{run_key}'", max_results=1)
    return found[0].info.run_id if found else None


def _find_or_create_run(client: Any, record: Mapping[str, Any], *, search: bool) -> tuple[str, str]:
    """The run of a ``start_run`` record: found by its ``yololab.run_key`` tag when ``search``, else created.

    A parent given as ``mlflow.parentRunId = local-<run key>`` (the parent did not exist on the server yet when the
    child started) is replaced by the parent's server id when the parent is there by now.
    """
    experiment_id = _get_or_create_experiment(client, record["experiment_name"])
    if search and (run_id := _run_with_key(client, experiment_id, record["run_key"])):
        return run_id, experiment_id
    tags = {**record["tags"], RUN_KEY_TAG: record["run_key"]}
    parent = tags.get("mlflow.parentRunId", "")
    if parent.startswith("local-") and (parent_id := _run_with_key(client, experiment_id, parent[len("local-") :])):
        tags["mlflow.parentRunId"] = parent_id
    run = client.create_run(
        experiment_id, start_time=record["start_time_ms"], tags=tags, run_name=record.get("run_name")
    )
    return run.info.run_id, experiment_id


def apply_record(client: Any, record: Mapping[str, Any], run_id: str | None, local: Path | None = None) -> None:
    """Send one non-``start_run`` journal record through ``client`` (the single path of live logging and replay).

    Args:
        client: an ``MlflowClient``.
        record: a record as described in :mod:`yololab.journal`.
        run_id: the server run id.
        local: for ``log_artifact``, the file or folder to upload.
    """
    from mlflow.entities import Metric, Param, RunTag

    op = record["op"]
    if run_id is None:
        raise CallRejectedError(f"run {record['run_key']} was never created (its start_run record was not sent)")
    if op == "log_metrics":
        metrics = [Metric(k, v, ts, step) for k, v, ts, step in record["metrics"]]
        client.log_batch(run_id, metrics=metrics, synchronous=True)
    elif op == "log_params":
        client.log_batch(run_id, params=[Param(k, v) for k, v in record["params"].items()], synchronous=True)
    elif op == "set_tags":
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in record["tags"].items()], synchronous=True)
    elif op == "log_input":
        client.log_inputs(run_id, datasets=[_dataset_input(record["dataset"])])
    elif op == "log_artifact":
        if local is None or not local.exists():
            raise CallRejectedError(f"artifact copy {local} is missing")
        if local.is_dir():
            client.log_artifacts(run_id, str(local), record.get("artifact_path"))
        else:
            client.log_artifact(run_id, str(local), record.get("artifact_path"))
    elif op == "end_run":
        client.set_terminated(run_id, status=record["status"], end_time=record["end_time_ms"])
    else:
        raise CallRejectedError(f"unknown op {op!r}")


def _dataset_input(dataset: Mapping[str, Any]) -> Any:
    """An MLflow ``DatasetInput`` from a journalled dataset (see :meth:`ExperimentRecorder.log_input`).

    MLflow keeps one input per (dataset name, digest) and context, so a replayed record adds nothing twice.
    """
    from mlflow.entities import Dataset, DatasetInput, InputTag

    entity = Dataset(
        name=dataset["name"],
        digest=dataset["digest"],
        source_type="local",
        source=json.dumps({"uri": dataset["source"]}),
        profile=json.dumps(dataset.get("profile") or {}),
    )
    return DatasetInput(entity, tags=[InputTag("mlflow.data.context", dataset["context"])])


def _deadline_for(record: Mapping[str, Any], local: Path | None, base_s: float) -> float:
    if record["op"] != "log_artifact" or local is None or not local.exists():
        return base_s
    files = [local] if local.is_file() else [p for p in local.rglob("*") if p.is_file()]
    return base_s + sum(p.stat().st_size for p in files) / _UPLOAD_BYTES_PER_S


def _merge_head(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first batch of ``records``: one record, or consecutive metric records of one run up to 1000 metrics."""
    group: list[dict[str, Any]] = []
    size = 0
    for record in records:
        if group and not (
            record["op"] == "log_metrics"
            and group[0]["op"] == "log_metrics"
            and record["run_key"] == group[0]["run_key"]
            and size + len(record["metrics"]) <= MAX_METRICS_PER_BATCH
        ):
            break
        group.append(record)
        size += len(record.get("metrics", ()))
        if record["op"] != "log_metrics":
            break
    return group


def _merged(group: list[dict[str, Any]]) -> dict[str, Any]:
    if len(group) == 1:
        return group[0]
    return {**group[0], "metrics": [m for r in group for m in r["metrics"]]}


def _uploaded_marker(journal: Path, record_id: str) -> Path:
    return artifacts_dir_of(journal) / f"{record_id}.uploaded"


class _Replayer:
    """Sends the batches of one journal in order through one client and keeps the journal's state file."""

    def __init__(self, path: Path, client: Any, state: SyncState, *, deadline_s: float, search: bool) -> None:
        self.path = path
        self.client = client
        self.state = state
        self.deadline_s = deadline_s
        self.search = search

    def run_id(self, record: Mapping[str, Any]) -> str | None:
        return self.state.runs.get(record["run_key"]) or record.get("server_run_id")

    def send(self, group: list[dict[str, Any]]) -> None:
        """Send one batch and record it as done; raises what :func:`call_with_deadline` raises."""
        record = _merged(group)
        if record["op"] == "start_run":
            if self.run_id(record) is None:
                # after one attempt, search first: an abandoned request may have created the run after all
                search, self.search = self.search, True
                run_id, experiment_id = call_with_deadline(
                    lambda: self._find_or_create_run(record, search), self.deadline_s
                )
                self.state.runs[record["run_key"]] = run_id
                self.state.experiments[record["run_key"]] = experiment_id
        elif record["op"] == "log_artifact" and _uploaded_marker(self.path, record["id"]).exists():
            pass  # uploaded before and the copy removed; the state file was lost since
        else:
            local = artifacts_dir_of(self.path) / record["copy"] if record["op"] == "log_artifact" else None
            run_id = self.run_id(record)
            call_with_deadline(
                lambda: self._apply(record, run_id, local), _deadline_for(record, local, self.deadline_s)
            )
        self.state.mark_done(r["id"] for r in group)
        self.state.save(self.path)
        if record["op"] == "log_artifact":
            _remove_copy(self.path, record)

    def _find_or_create_run(self, record: dict[str, Any], search: bool) -> tuple[str, str]:
        run_id, experiment_id = self._call("find_or_create_run", record=record, search=search)
        return run_id, experiment_id

    def _apply(self, record: dict[str, Any], run_id: str | None, local: Path | None) -> None:
        self._call("apply_record", record=record, run_id=run_id, local=None if local is None else str(local))

    def _call(self, name: str, **args: Any) -> Any:
        """A :func:`client_call`, made here or - when the client is a helper process - there."""
        if isinstance(self.client, ClientProcess):
            return self.client.call(name, **args)
        return client_call(self.client, name, **args)


def client_call(client: Any, name: str, **args: Any) -> Any:
    """One of the sender's two calls by name, with plain-data arguments and result (the helper process's protocol).

    ``find_or_create_run`` (``record``, ``search``) -> ``[run_id, experiment_id]``; ``apply_record`` (``record``,
    ``run_id``, ``local``: the artifact copy's path or None) -> None.
    """
    if name == "find_or_create_run":
        return list(_find_or_create_run(client, args["record"], search=args["search"]))
    if name == "apply_record":
        local = args.get("local")
        apply_record(client, args["record"], args.get("run_id"), Path(local) if local else None)
        return None
    raise ValueError(f"unknown call {name!r}")


def _remove_copy(journal: Path, record: Mapping[str, Any]) -> None:
    """Delete an uploaded artifact copy, leaving a marker that it was uploaded."""
    base = artifacts_dir_of(journal) / record["id"]
    with contextlib.suppress(OSError):
        _uploaded_marker(journal, record["id"]).touch(mode=0o600)
        shutil.rmtree(base)


# ------------------------------------------------------------------------------------------------ replay / sync


@dataclass
class JournalSyncReport:
    """Outcome of replaying one journal (counts are records).

    Attributes:
        path: the journal.
        sent: records accepted by the server now.
        skipped: records already synced before.
        failed: good records not sent (server unavailable or request rejected); the next sync retries them.
        bad: lines that are not replayed because they cannot be trusted (torn, wrong checksum, corrupt).
        errors: one line per failure.
        notes: what sync did on its own, e.g. ending a run whose ``end_run`` record is missing.
        runs: local run key -> server run id, for the runs in this journal.
        unavailable: True when replay stopped because the server could not be reached.
        busy: True when a live process (the experiment itself, or another sync) holds the journal: not replayed.
    """

    path: Path
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    bad: list[BadRecord] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    runs: dict[str, str] = field(default_factory=dict)
    unavailable: bool = False
    busy: bool = False

    @property
    def ok(self) -> bool:
        """True when every record of the journal is on the server."""
        return self.failed == 0 and not self.bad and not self.errors


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
        """Good records that could not be sent."""
        return sum(j.failed for j in self.journals)

    @property
    def bad(self) -> int:
        """Journal lines not replayed because they cannot be trusted."""
        return sum(len(j.bad) for j in self.journals)

    @property
    def ok(self) -> bool:
        """True when every journal is completely on the server."""
        return all(j.ok for j in self.journals)


def _status_for_unended(records: list[dict[str, Any]]) -> RunStatus:
    """The status a journal supports for a run without ``end_run``: FAILED when it tagged a failure, else KILLED."""
    failed = any(r["op"] == "set_tags" and "yololab.failure_reason" in r.get("tags", {}) for r in records)
    return "FAILED" if failed else "KILLED"


def _end_unended_runs(
    replayer: _Replayer, records: list[dict[str, Any]], bad: list[BadRecord], report: JournalSyncReport
) -> None:
    """End every run of a finished journal that has no ``end_run`` record, and say so."""
    by_run: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_run.setdefault(record["run_key"], []).append(record)
    state = replayer.state
    for run_key, run_records in by_run.items():
        run_id = state.runs.get(run_key)
        write_ahead = any(r["op"] == "start_run" and r.get("v", 1) >= 2 for r in run_records)
        ended = run_key in state.ended or any(r["op"] == "end_run" for r in run_records)
        # a version-1 journal held only the calls that failed (its end_run may have been sent directly): left alone
        if run_id is None or not write_ahead or ended:
            continue
        status = _status_for_unended(run_records)
        end_ms = max(int(r.get("time_ms", 0)) for r in run_records)
        torn = [b for b in bad if f"run {run_key}" in b.held and "op end_run" in b.held]
        why = "its end_run record is torn" if torn else "the journal has no end_run record"
        note = f"{why}: the process ended without closing the run; ended {status} by yololab sync"
        tag = {"op": "set_tags", "run_key": run_key, "tags": {"yololab.sync_note": note}}
        end = {"op": "end_run", "run_key": run_key, "status": status, "end_time_ms": end_ms}
        try:
            for record in (tag, end):
                send = functools.partial(apply_record, replayer.client, record, run_id)
                call_with_deadline(send, replayer.deadline_s)
        except (ServerUnavailableError, CallRejectedError, TrackingAuthError) as exc:
            report.errors.append(f"{report.path}: run {run_key} ({run_id}): {why}; ending it failed: {exc}")
            continue
        state.ended[run_key] = status
        state.save(replayer.path)
        report.notes.append(f"{report.path}: run {run_key} ({run_id}): {note} (end time = its last record)")


def replay_journal(path: Path, client: Any, *, deadline_s: float) -> JournalSyncReport:
    """Send every good record of one journal not sent before, in order, and save the progress after each batch.

    Every line is verified first (:func:`yololab.journal.scan_journal`); lines that cannot be trusted are reported
    and skipped, every good one is replayed. Stops at the first :class:`ServerUnavailableError` or
    :class:`TrackingAuthError` (the rest count as failed); a rejected record counts as failed and replay goes on.
    When everything could be tried, a run whose ``end_run`` is missing is ended (:func:`_status_for_unended`).
    Call it only while holding the journal's lock (:func:`sync_journals` does).

    Args:
        path: the journal.
        client: the ``MlflowClient`` to send through.
        deadline_s: seconds allowed per request (artifacts get more, by size).

    Returns:
        What happened.
    """
    path = Path(path)
    report = JournalSyncReport(path=path)
    contents = scan_journal(path)
    report.bad = contents.bad
    try:
        state = SyncState.load(path)
    except JournalError as err:
        report.errors.append(str(err))
        report.failed = len(contents.records)
        return report
    records = contents.records
    report.skipped = sum(r["id"] in state.done for r in records)
    pending = [r for r in records if r["id"] not in state.done]
    replayer = _Replayer(path, client, state, deadline_s=deadline_s, search=True)
    while pending:
        group = _merge_head(pending)
        record = group[0]
        try:
            replayer.send(group)
        except (ServerUnavailableError, TrackingAuthError) as exc:
            report.unavailable = isinstance(exc, ServerUnavailableError)
            report.failed += len(pending)
            if isinstance(exc, TrackingAuthError):
                what = auth_problem(exc, getattr(client, "tracking_uri", "?"), record["experiment_name"])
            else:
                what = f"server unavailable ({exc})"
            report.errors.append(f"{path}: {what}; {len(pending)} record(s) left for the next sync")
            break
        except CallRejectedError as exc:
            report.failed += len(group)
            line = contents.lines.get(record["id"], "?")
            report.errors.append(f"{path}:{line}: {record['op']} of run {record['run_key']} rejected: {exc}")
        else:
            report.sent += len(group)
        del pending[: len(group)]
    if not pending:
        _end_unended_runs(replayer, records, contents.bad, report)
    report.runs = {**{r["run_key"]: r["server_run_id"] for r in records if r.get("server_run_id")}, **state.runs}
    return report


def _is_child_of_local_run(path: Path) -> bool:
    """Whether the journal's run names a parent that had no server id yet (``mlflow.parentRunId = local-...``)."""
    with contextlib.suppress(OSError):
        start = next((r for r in scan_journal(path).records if r["op"] == "start_run"), None)
        return bool(start) and str(start.get("tags", {}).get("mlflow.parentRunId", "")).startswith("local-")
    return False


def sync_journals(
    paths: Sequence[Path] | None = None,
    *,
    tracking_uri: str | None = None,
    journal_dir: Path | None = None,
    request_timeout_s: float = 10.0,
    max_retries: int = 2,
) -> SyncReport:
    """Replay journals into the tracking server; safe to run any number of times.

    A journal whose lock is held (the experiment writing it is still running, or another sync replays it) is left
    alone and reported as busy. Credentials come from ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``
    (journals never hold them), or from ``tracking_uri``.

    Args:
        paths: journals to replay; ``None`` = every journal in ``journal_dir``.
        tracking_uri: send here instead of each journal's recorded tracking URI.
        journal_dir: where to look when ``paths`` is ``None`` (default ``./.yololab/journal``).
        request_timeout_s: HTTP timeout per request.
        max_retries: HTTP retries per request.

    Returns:
        Per-journal and total counts of records sent, skipped (already synced), failed and bad.
    """
    bound_mlflow_http(request_timeout_s=request_timeout_s, max_retries=max_retries)
    override = use_credentials(resolve_tracking_uri(tracking_uri)) if tracking_uri else None
    journals = [Path(p) for p in paths] if paths is not None else find_journals(journal_dir or DEFAULT_JOURNAL_DIR)
    journals.sort(key=_is_child_of_local_run)  # parents first, so that a child can name its parent's server id
    deadline_s = request_timeout_s * (max_retries + 1) + 1.0
    clients: dict[str, Any] = {}
    report = SyncReport()
    for path in journals:
        if not path.exists():
            report.journals.append(JournalSyncReport(path=path, errors=[f"{path}: missing"]))
            continue
        with journal_lock(path) as free:
            if not free:
                report.journals.append(JournalSyncReport(path=path, busy=True, notes=[
                    f"{path}: in use by a running experiment (its sender is uploading it) or another yololab sync; "
                    "left alone"]))  # fmt: skip
                continue
            contents = scan_journal(path)
            first = next((r for r in contents.records if r.get("tracking_uri")), None)
            if first is None:
                journal = JournalSyncReport(path=path, bad=contents.bad)
                if not contents.bad:
                    journal.notes.append(f"{path}: empty journal")
                report.journals.append(journal)
                continue
            uri = override or use_credentials(resolve_tracking_uri(first["tracking_uri"]))
            try:
                if uri not in clients:
                    clients[uri] = open_client(uri)
            except Exception as exc:
                error = redact_value(f"{path}: no MLflow client for {uri} ({exc})")
                report.journals.append(
                    JournalSyncReport(path=path, failed=len(contents.records), bad=contents.bad, errors=[error])
                )
                continue
            limit = deadline_s if _is_remote(uri) else max(deadline_s, _LOCAL_STORE_DEADLINE_S)
            report.journals.append(replay_journal(path, clients[uri], deadline_s=limit))
    return report


# ----------------------------------------------------------------------------------------------------- sender


class _Sender:
    """The background thread draining a recorder's journal to the server, in order.

    Records are queued in memory as they are journaled; the thread sends the head batch, marks it done in the state
    file, and goes on. After an outage it waits (0.5 s doubling to ``retry_max_s``) and retries; after an
    authentication/permission error it stops. The caller's thread only ever appends and notifies.
    """

    def __init__(
        self,
        recorder: ExperimentRecorder,
        *,
        client_uri: str,
        deadline_s: float,
        retry_max_s: float,
    ) -> None:
        self.recorder = recorder
        self.client_uri = client_uri
        self.deadline_s = deadline_s
        self.retry_max_s = max(retry_max_s, _FIRST_RETRY_S)  # never a busy loop against a dead server
        self.queue: collections.deque[dict[str, Any]] = collections.deque()
        self.cond = threading.Condition()
        self.closing = False
        self.stopped = False
        self.close_deadline = 0.0
        self.close_failures = 0
        self.failing_at_close = False
        self.attempt_started: float | None = None
        self.next_try = 0.0
        self.backoff = 0.0
        self.failure: str | None = None  # the last outage, while it lasts
        self.auth_error: TrackingAuthError | None = None
        self.dead: str | None = None  # why nothing more can be sent (auth, no client, run never created)
        self.rejected: list[str] = []
        self.sent = 0
        self.start_settled = threading.Event()
        self.client_ready = threading.Event()  # the client is open (or could not be): MLflow is imported
        self.thread = threading.Thread(target=self._run, name="yololab-mlflow-sender", daemon=True)
        self._replayer: _Replayer | None = None
        self._helper: ClientProcess | None = None

    # -- caller's side ------------------------------------------------------------------------------------
    def start(self) -> None:
        self.thread.start()

    def submit(self, record: dict[str, Any]) -> None:
        with self.cond:
            self.queue.append(record)
            self.cond.notify()

    def pending(self) -> int:
        with self.cond:
            return len(self.queue)

    def close(self, grace_s: float) -> None:
        """Let the thread send what it can within ``grace_s`` (one more attempt right away after an outage)."""
        with self.cond:
            self.closing = True
            started = self.attempt_started
            self.failing_at_close = self.failure is not None or (
                started is not None and time.monotonic() - started > 1.0  # an attempt hangs now: the server is silent
            )
            self.close_deadline = time.monotonic() + grace_s
            self.next_try = min(self.next_try, time.monotonic())
            self.cond.notify()
        self.thread.join(grace_s + self.deadline_s + 1.0)
        with self.cond:
            self.stopped = True
            self.cond.notify()

    # -- the thread -----------------------------------------------------------------------------------------
    def _next_group(self) -> list[dict[str, Any]] | None:
        with self.cond:
            while True:
                if self.stopped or self.dead:
                    return None
                if not self.queue:
                    if self.closing:
                        return None
                    self.cond.wait()
                    continue
                if self.closing and time.monotonic() > self.close_deadline:
                    return None
                delay = self.next_try - time.monotonic()
                if delay > 0:
                    if self.closing and time.monotonic() + delay > self.close_deadline:
                        return None
                    self.cond.wait(delay)
                    continue
                return _merge_head(self.queue)

    def _pop(self, n: int) -> None:
        with self.cond:
            for _ in range(n):
                self.queue.popleft()

    def _client(self) -> _Replayer:
        if self._replayer is None:
            if use_helper():  # MLflow imported and called in a helper process, not in the experiment's
                self._helper = acquire(self.client_uri)
                self._helper.ready()
                client: Any = self._helper
            else:
                client = open_client(self.client_uri)
            rec = self.recorder
            self._replayer = _Replayer(rec.journal_path, client, rec._state, deadline_s=self.deadline_s, search=False)
        return self._replayer

    def _run(self) -> None:
        try:
            self._send_all()
        finally:
            if self._helper is not None:
                release(self._helper)

    def _send_all(self) -> None:
        try:
            replayer = self._client()
        except Exception as exc:  # no client for this URI (unknown scheme, unreadable store, ...)
            self.dead = redact_value(f"no MLflow client for {self.recorder.tracking_uri} ({exc})")
            log.warning("%s; every call is kept in %s for `yololab sync`", self.dead, self.recorder.journal_path)
            self.start_settled.set()
            return
        finally:
            self.client_ready.set()
        while (group := self._next_group()) is not None:
            op = group[0]["op"]
            self.attempt_started = time.monotonic()
            try:
                replayer.send(group)
            except ServerUnavailableError as exc:
                self._on_outage(exc)
            except TrackingAuthError as exc:
                self.auth_error = exc
                self.dead = auth_problem(exc, self.recorder.tracking_uri, self.recorder.experiment_name)
                if self.start_settled.is_set():
                    log.error(
                        "%s, during run %s (%s); nothing more is sent, no retries. Every call is in %s: fix the "
                        "credentials (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD) or the permission and run "
                        "`yololab sync`",
                        self.dead, self.recorder.run_id, op, self.recorder.journal_path,
                    )  # fmt: skip
            except CallRejectedError as exc:
                message = f"{op}: {exc}"
                self.rejected.append(message)
                log.warning("MLflow rejected %s for run %s; kept in %s for `yololab sync`",
                            message, self.recorder.run_id, self.recorder.journal_path)  # fmt: skip
                if op == "start_run":
                    self.dead = f"the run could not be created ({exc})"
                self._pop(len(group))
            except Exception as exc:  # a failure that is neither the server's nor the request's: stop, keep all
                self.dead = redact_value(f"{type(exc).__name__}: {exc}")
                log.warning("MLflow sender of run %s stopped (%s); every call is kept in %s for `yololab sync`",
                            self.recorder.run_id, self.dead, self.recorder.journal_path)  # fmt: skip
            else:
                self._pop(len(group))
                self.sent += len(group)
                if self.failure is not None:
                    log.warning("MLflow server %s answers again; sending the journaled calls of run %s",
                                self.recorder.tracking_uri, self.recorder.run_id)  # fmt: skip
                self.failure, self.backoff = None, 0.0
            self.attempt_started = None
            if op == "start_run":
                self.start_settled.set()
        self.start_settled.set()

    def _on_outage(self, exc: BaseException) -> None:
        first = self.failure is None
        self.failure = str(exc)
        self.backoff = _FIRST_RETRY_S if first else min(max(self.backoff * 2, _FIRST_RETRY_S), self.retry_max_s)
        with self.cond:
            self.next_try = time.monotonic() + min(self.backoff, self.retry_max_s)
            if self.closing:  # the run has ended: one last try (two if the server was fine until now), then sync
                self.close_failures += 1
                self.next_try = time.monotonic() + _FIRST_RETRY_S
                if self.close_failures >= (1 if self.failing_at_close else 2):
                    self.dead = f"server unavailable at the end of the run ({exc})"
        if first:
            log.warning(
                "MLflow server %s unavailable (%s); the run goes on, every call is journaled in %s and sent when "
                "the server answers",
                self.recorder.tracking_uri, exc, self.recorder.journal_path,
            )  # fmt: skip


# --------------------------------------------------------------------------------------------------- recorder


class ExperimentRecorder:
    """One MLflow run for one experiment: every call journaled first, sent by a background thread.

    Use it as a context manager: leaving the block normally ends the run ``FINISHED``, a ``KeyboardInterrupt`` ends
    it ``KILLED`` and any other exception ``FAILED``, with the tag ``yololab.failure_reason`` (``Type: message``;
    the exception propagates).

    Args:
        experiment_name: MLflow experiment (created when missing).
        experiment_type: ``train``, ``infer`` or ``quant`` (tag ``yololab.experiment_type``).
        run_name: MLflow run name (MLflow picks one when ``None``).
        tracking_uri: ``None`` -> ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``. Credentials in it
            (``http://user:password@host``) are used but never written or printed.
        journal_dir: where the journal is written; ``None`` -> ``./.yololab/journal``.
        tags: extra run tags (added to the ``yololab.*`` tags; redacted like params).
        request_timeout_s: HTTP timeout of one request, in seconds.
        max_retries: HTTP retries of one request; the sender abandons a call after
            ``request_timeout_s * (max_retries + 1) + 0.5`` s (4.5 s by default; 120 s for a local store).
        breaker_cooldown_s: longest wait, in seconds, between two attempts of the sender while the server is
            unavailable (it starts at 0.5 s and doubles).
        offline: journal only, send nothing (``yololab sync`` uploads later); ``None`` -> ``YOLOLAB_OFFLINE`` set
            to ``1``/``true``.
        flush_timeout_s: seconds the sender gets at the end of the run to finish; ``None`` -> 15 s for a server,
            120 s for a local store.
        start_timeout_s: seconds to wait for the server to create the run (so that a refused credential stops the
            experiment before any work); ``None`` -> ``request_timeout_s + 0.5`` for a server, and no wait for a
            local store (which cannot refuse credentials; :attr:`run_id` waits for it, up to 120 s, when first
            read). After that the run goes on and the sender keeps trying.

    Raises:
        TrackingAuthError: at start, the server refused the credentials or the permission (HTTP 401/403).

    Attributes:
        run_id: the server run id, or ``local-<run_key>`` while the run exists only in the journal.
        run_key: local key of this run (also the journal's file name).
        journal_path: the journal file.
        tracking_uri: the tracking URI without credentials (what is written and printed).
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
        offline: bool | None = None,
        flush_timeout_s: float | None = None,
        start_timeout_s: float | None = None,
    ) -> None:
        self.experiment_name = experiment_name
        self.experiment_type = experiment_type
        self.run_name = run_name
        client_uri = use_credentials(resolve_tracking_uri(tracking_uri))
        self.tracking_uri = redact_value(client_uri)
        self.offline = _env_flag("YOLOLAB_OFFLINE") if offline is None else bool(offline)
        self.run_key = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        self._state = SyncState()
        self._ended = False
        self._lock = threading.RLock()
        self._known_ids: set[str] = set()  # every record id this recorder journaled or adopted
        self._journal = Journal(Path(journal_dir or DEFAULT_JOURNAL_DIR).resolve() / f"{self.run_key}.jsonl")
        self._journal.lock()
        self.journal_path: Path = self._journal.path
        remote = _is_remote(client_uri)
        deadline = request_timeout_s * (max_retries + 1) + 0.5
        deadline = deadline if remote else max(deadline, _LOCAL_STORE_DEADLINE_S)
        self._flush_timeout_s = flush_timeout_s if flush_timeout_s is not None else (15.0 if remote else 120.0)
        bound_mlflow_http(request_timeout_s=request_timeout_s, max_retries=max_retries)
        self._sender: _Sender | None = None
        if not self.offline:
            self._sender = _Sender(self, client_uri=client_uri, deadline_s=deadline, retry_max_s=breaker_cooldown_s)
        all_tags = {**default_tags(experiment_type), **(tags or {})}
        start = {"tags": self._clean_tags(all_tags), "run_name": run_name, "start_time_ms": _now_ms()}
        self._dispatch("start_run", start)
        self._start_timeout_s = start_timeout_s if start_timeout_s is not None else deadline
        if self._sender is not None:
            self._sender.start()
            if not remote and start_timeout_s is None:
                return  # a local store cannot refuse credentials: its run is created while the caller goes on
            # Importing MLflow and opening the client (in the helper process) is not the server's answer time.
            self._sender.client_ready.wait(_CLIENT_OPEN_TIMEOUT_S)
            self._sender.start_settled.wait(request_timeout_s + 0.5 if start_timeout_s is None else start_timeout_s)
            error = self._sender.auth_error
            if error is not None:
                self._abandon()
                fix = (
                    "ask for EDIT permission on it or use another experiment"
                    if error.status == 403
                    else "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or put them in the tracking URI)"
                )
                raise TrackingAuthError(
                    f"{auth_problem(error, self.tracking_uri, experiment_name)}; nothing was run. To go on, {fix}, "
                    "or run offline (--offline, or YOLOLAB_OFFLINE=1) and upload later with `yololab sync`",
                    status=error.status,
                )

    @property
    def run_id(self) -> str:
        """The server run id once the run exists there, else ``local-<run_key>``.

        The first read waits (at most the start deadline) for the sender to have tried creating the run: a local
        store's run is created in the background while the experiment starts (importing MLflow and opening SQLite
        take about a second), so nothing waits for it until its id is needed.
        """
        run_id = self._state.runs.get(self.run_key)
        if run_id is None and self._sender is not None and not self._sender.start_settled.is_set():
            self._sender.start_settled.wait(self._start_timeout_s)
            run_id = self._state.runs.get(self.run_key)
        return run_id or f"local-{self.run_key}"

    @property
    def handle(self) -> RunHandle:
        """The plain-data identity of this run, for another process to log into it (:class:`JournalRunWriter`)."""
        return RunHandle(
            journal_path=str(self.journal_path),
            run_key=self.run_key,
            experiment_name=self.experiment_name,
            experiment_type=self.experiment_type,
            tracking_uri=self.tracking_uri,
        )

    @contextlib.contextmanager
    def follow_journal(
        self, on_record: Callable[[dict[str, Any]], None] | None = None, *, interval_s: float = 0.5
    ) -> Iterator[JournalFollower]:
        """While the block runs, adopt the records other processes append to this run's journal.

        Another process (a DDP worker, through :class:`JournalRunWriter`) appends records to the journal; a thread
        of this process reads the new complete lines every ``interval_s`` seconds and hands each verified record
        of this run that this recorder did not write itself to the sender, in file order, exactly as if it had
        been logged here. Leaving the block reads the journal one last time. Each record is adopted once (by id);
        ``yololab sync`` replays the same lines with the same ids, so every record reaches the server once.

        Args:
            on_record: called in the follower thread with each adopted record (e.g. to show progress).
            interval_s: seconds between two reads of the journal.

        Yields:
            The follower (``.adopted``: the records adopted so far).
        """
        follower = JournalFollower(self, on_record)
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(interval_s):
                follower.poll()

        thread = threading.Thread(target=run, name="yololab-journal-follower", daemon=True)
        thread.start()
        try:
            yield follower
        finally:
            stop.set()
            thread.join()
            follower.poll()

    def _adopt(self, record: dict[str, Any]) -> bool:
        """Hand a record another process journaled to the sender (once); ``False`` when it is not adopted."""
        with self._lock:
            if self._ended or record.get("run_key") != self.run_key or record["id"] in self._known_ids:
                return False
            if record["op"] in ("start_run", "end_run"):  # the run's life belongs to this recorder
                return False
            self._known_ids.add(record["id"])
            if self._sender is not None:
                self._sender.submit(record)
            return True

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
        """Log params (secrets redacted, values stringified and cut to 6000 characters, keys made valid), 100 a call."""
        items = {clean_key(k): _text(v, MAX_PARAM_VALUE_LENGTH, "param", k) for k, v in params.items()}
        keys = list(items)
        for i in range(0, len(keys), MAX_PARAMS_PER_BATCH):
            self._dispatch("log_params", {"params": {k: items[k] for k in keys[i : i + MAX_PARAMS_PER_BATCH]}})

    def log_metrics(self, metrics: Mapping[str, float], *, step: int | None = None) -> None:
        """Log metrics at ``step`` (default 0) with one timestamp, up to 1000 per request.

        ``None`` and non-numeric values are skipped (absent, never sent); NaN is stored as NaN and ``±inf`` as
        ``±1.797e308`` by MLflow (``from_mlflow_dict`` maps it back).
        """
        for batch in metric_batches(metrics, step=step):
            self._dispatch("log_metrics", {"metrics": batch})

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Set run tags (redacted like params, keys made valid, values stringified and cut to 8000 characters)."""
        if tags:
            self._dispatch("set_tags", {"tags": self._clean_tags(tags)})

    def log_input(
        self, *, name: str, digest: str, source: str, context: str, profile: Mapping[str, Any] | None = None
    ) -> None:
        """Record a dataset the run used (MLflow's run inputs: the UI's "Dataset" column and run page section).

        Args:
            name: the dataset's name (e.g. the data.yaml's folder name).
            digest: a short content hash (at most 36 characters), equal for equal data.
            source: where it lies (a local path or URI; credentials redacted).
            context: how the run used it: ``training``, ``validation``, ``calibration``, ``tracking`` ...
            profile: a few plain facts (e.g. ``{"images": 150}``), stored as JSON.
        """
        dataset = {"name": name, "digest": digest[:36], "source": redact_value(source), "context": context,
                   "profile": dict(profile or {})}  # fmt: skip
        self._dispatch("log_input", {"dataset": dataset})

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Upload a file, or a folder as ``artifact_path/<folder name>/...`` (copied into the journal first)."""
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
        """Write ``text`` (UTF-8) to ``artifact_file`` (a relative path like ``dir/name.txt``) in the artifacts.

        Credentials in URIs inside the text are redacted (:func:`~yololab.adapters.mlflow_params.redact_value`).
        """
        with self._temp_artifact(artifact_file) as (local, artifact_path):
            local.write_text(redact_value(text), encoding="utf-8")
            self.log_artifact(local, artifact_path)

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        """Save a matplotlib figure (``figure.savefig``) to ``artifact_file`` in the artifacts."""
        with self._temp_artifact(artifact_file) as (local, artifact_path):
            figure.savefig(local)
            self.log_artifact(local, artifact_path)
        import matplotlib.pyplot as plt

        plt.close(figure)  # logged: a figure left open would hold its memory for the rest of the process

    def end(self, status: RunStatus = "FINISHED") -> None:
        """End the run with ``status``, give the sender ``flush_timeout_s`` to finish, and say what is left.

        A second call does nothing. Never raises because of the server.
        """
        if self._ended:
            return
        self._dispatch("end_run", {"status": status, "end_time_ms": _now_ms()})
        self._ended = True
        sender = self._sender
        if sender is None:
            self._journal.close()
            self._journal.unlock()
            log.warning("MLflow run %s recorded offline in %s; run `yololab sync` to upload it to %s",
                        self.run_id, self.journal_path, self.tracking_uri)  # fmt: skip
            return
        sender.close(self._flush_timeout_s)
        self._journal.close()
        left = sender.pending()
        if not sender.thread.is_alive():
            self._journal.unlock()  # else a call is still in flight; the lock goes with the process
        if left or sender.rejected:
            why = sender.dead or sender.failure or "the sender ran out of time"
            log.warning(
                "MLflow run %s: %d of its journaled calls were not sent to %s (%s)%s; they are in %s - run "
                "`yololab sync` to send them",
                self.run_id, left, self.tracking_uri, why,
                f", {len(sender.rejected)} rejected" if sender.rejected else "", self.journal_path,
            )  # fmt: skip
        elif _is_remote(self.tracking_uri) and self.run_key in self._state.experiments:
            url = f"{self.tracking_uri.rstrip('/')}/#/experiments/{self._state.experiments[self.run_key]}"
            sys.stdout.write(f"🏃 View run {self.run_name or self.run_id} at: {url}/runs/{self.run_id}\n")

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
        """Journal one record (fsynced) and hand it to the sender; never touches the network."""
        with self._lock:
            if self._ended:
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
            if op == "log_artifact":
                self._copy_artifact(record)
            self._known_ids.add(record["id"])
            self._journal.append(record)
            if self._sender is not None:
                self._sender.submit(record)

    def _abandon(self) -> None:
        """Stop everything after a refused start: the journal of a run that never ran is removed."""
        self._ended = True
        if self._sender is not None:
            self._sender.close(0.0)
        self._journal.close()
        with contextlib.suppress(OSError):
            shutil.rmtree(artifacts_dir_of(self.journal_path), ignore_errors=True)
            self.journal_path.unlink(missing_ok=True)
            state_path_of(self.journal_path).unlink(missing_ok=True)
        self._journal.unlock()
        with contextlib.suppress(OSError):
            lock_path_of(self.journal_path).unlink()

    def _copy_artifact(self, record: dict[str, Any]) -> None:
        """Copy the artifact into ``<journal>.artifacts/<record id>/`` so that the caller may delete the original."""
        source = Path(record.pop("source"))
        record.pop("is_dir", None)
        base = self._journal.artifacts_dir / record["id"]
        make_private_dir(self._journal.artifacts_dir)
        base.mkdir(mode=DIR_MODE)
        target = base / source.name
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
        record["copy"] = f"{record['id']}/{source.name}"
        record["source_name"] = source.name


# ------------------------------------------------------------------------------ logging from other processes


@dataclass(frozen=True)
class RunHandle:
    """What another process needs to log into an open run: plain strings, picklable, no secrets.

    Attributes:
        journal_path: the run's journal (absolute path).
        run_key: the run's local key.
        experiment_name: its MLflow experiment.
        experiment_type: ``train``, ``infer`` or ``quant``.
        tracking_uri: the tracking URI without credentials (journals never hold them).
    """

    journal_path: str
    run_key: str
    experiment_name: str
    experiment_type: str
    tracking_uri: str


class JournalRunWriter:
    """Appends records of an open run to its journal from another process (a DDP worker); never sends anything.

    The records are built exactly as :class:`ExperimentRecorder` builds them (same fields, keys made valid, one
    checksummed fsynced line each). The process owning the run adopts them with
    :meth:`ExperimentRecorder.follow_journal` and its sender uploads them; if that process is gone, ``yololab sync``
    replays them. Appends are single ``O_APPEND`` writes, so lines of two writing processes never interleave on a
    local file system. It takes no lock: the owner holds the journal's lock while the run is open.

    Args:
        handle: the run (:attr:`ExperimentRecorder.handle`).
    """

    def __init__(self, handle: RunHandle) -> None:
        self.handle = handle
        self._journal = Journal(Path(handle.journal_path))

    def log_metrics(self, metrics: Mapping[str, Any], *, step: int | None = None) -> None:
        """Journal metrics at ``step`` (as :meth:`ExperimentRecorder.log_metrics` does)."""
        for batch in metric_batches(metrics, step=step):
            self._append("log_metrics", {"metrics": batch})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Journal run tags (as :meth:`ExperimentRecorder.set_tags` does)."""
        if tags:
            self._append("set_tags", {"tags": ExperimentRecorder._clean_tags(tags)})

    def close(self) -> None:
        """Close the journal file (appending again reopens it)."""
        self._journal.close()

    def _append(self, op: str, payload: dict[str, Any]) -> None:
        h = self.handle
        self._journal.append({
            "id": new_record_id(), "op": op, "time_ms": _now_ms(), "tracking_uri": h.tracking_uri,
            "experiment_name": h.experiment_name, "experiment_type": h.experiment_type, "run_key": h.run_key,
            **payload,
        })  # fmt: skip


class JournalFollower:
    """Reads what other processes append to a recorder's journal (see :meth:`ExperimentRecorder.follow_journal`).

    Attributes:
        adopted: the records handed to the recorder's sender, in file order.
        bad_lines: lines that did not verify (a worker killed mid-write); ``yololab sync`` reports them too.
    """

    def __init__(self, recorder: ExperimentRecorder, on_record: Callable[[dict[str, Any]], None] | None) -> None:
        self.recorder = recorder
        self.on_record = on_record
        self.adopted: list[dict[str, Any]] = []
        self.bad_lines = 0
        self._offset = 0
        self._poll_lock = threading.Lock()

    def poll(self) -> int:
        """Read the complete lines appended since the last poll and adopt the new records; returns how many."""
        from yololab.journal import decode_line

        with self._poll_lock:
            path = self.recorder.journal_path
            try:
                with open(path, "rb") as fh:
                    fh.seek(self._offset)
                    data = fh.read()
            except FileNotFoundError:
                return 0
            end = data.rfind(b"\n")
            if end < 0:
                return 0
            self._offset += end + 1
            count = 0
            for raw in data[:end].split(b"\n"):
                try:
                    record = decode_line(raw.decode("utf-8", errors="replace"))
                except JournalError:
                    self.bad_lines += 1
                    continue
                if self.recorder._adopt(record):
                    self.adopted.append(record)
                    count += 1
                    if self.on_record is not None:
                        try:
                            self.on_record(record)
                        except Exception:  # a display problem never stops the adoption
                            log.exception("journal follower: on_record failed")
            return count

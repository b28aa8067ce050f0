"""MLflow's client in a helper process, so that an experiment's own process never imports MLflow.

``import mlflow`` costs 1.4-2 s of CPU (MLflow 3.17 loads ``mlflow.genai``, FastAPI, pandas and polars with it).
In the experiment's process that time is taken from the work being measured - the GIL is shared with the exports
and the model loading a sweep starts with. Here a helper process (``python -m yololab.adapters.mlflow_process``)
imports MLflow once, opens the client (:func:`~yololab.adapters.mlflow_recorder.open_client`: the same SQLite
file lock) and runs the recorder's own functions on each journal batch it is given
(:func:`~yololab.adapters.mlflow_recorder.client_call`: ``_find_or_create_run``, ``apply_record``), on another
core, while the experiment goes on.

The recorder's sender thread stays what it is (journal first, order, deadlines, retries, ``yololab sync``): only the
call itself crosses the pipe. Requests and answers are JSON lines; an answer carries the result or the error,
already classified in the helper (``ServerUnavailableError``, ``CallRejectedError``, ``TrackingAuthError``, with
redacted messages), so no MLflow object crosses. Credentials reach the helper only through its environment
(``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``, never its command line). The helper ignores Ctrl-C
(the experiment decides what is sent before it ends) and exits when its pipe closes.

One helper per process and tracking URI, shared by the recorders that use it at the same time (a sweep's parent
and child runs) and closed when the last of them is done. A process that has imported MLflow already (a test
session, a notebook) sends in-process instead: the import is paid there anyway (:func:`use_helper`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from typing import Any

__all__ = ["ClientProcess", "HelperGoneError", "acquire", "release", "use_helper"]

ENV_SWITCH = "YOLOLAB_MLFLOW_HELPER"
"""``0``: always send in-process; ``1``: always through the helper; unset: the helper unless MLflow is imported."""


class HelperGoneError(RuntimeError):
    """The helper process exited (or could not start); nothing more can be sent through it."""


def use_helper() -> bool:
    """Whether recorders send through a helper process (see :data:`ENV_SWITCH`)."""
    switch = os.environ.get(ENV_SWITCH, "").strip().lower()
    if switch in ("0", "false", "no", "off"):
        return False
    if switch in ("1", "true", "yes", "on"):
        return True
    return "mlflow" not in sys.modules


class ClientProcess:
    """A running helper for one tracking URI; :meth:`call` is safe from several threads.

    Args:
        uri: the tracking URI without credentials.
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.users = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._next = 0
        self._waiting: dict[int, tuple[threading.Event, dict[str, Any]]] = {}
        self._gone: str | None = None
        env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": os.environ.get("MLFLOW_DISABLE_TELEMETRY", "true")}
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "yololab.adapters.mlflow_process"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                text=True,
                bufsize=1,
            )
        except OSError as exc:
            raise HelperGoneError(f"the MLflow helper process could not start ({exc})") from None
        self._reader = threading.Thread(target=self._read, name="yololab-mlflow-helper", daemon=True)
        self._reader.start()
        self._opened = self._send({"call": "open", "uri": uri})

    def ready(self) -> None:
        """Wait until the helper has imported MLflow and opened the client.

        Raises:
            HelperGoneError: the client could not be opened (the reason as MLflow gave it), or the helper exited.
        """
        self._wait(self._opened)

    def call(self, name: str, **args: Any) -> Any:
        """Run ``name`` (``find_or_create_run`` or ``apply_record``) in the helper and wait for its answer.

        Raises:
            ServerUnavailableError, CallRejectedError, TrackingAuthError: as the in-process call would.
            HelperGoneError: the helper exited, or its client could not be opened.
        """
        self._wait(self._opened)
        return self._wait(self._send({"call": name, **args}))

    def close(self, timeout_s: float = 5.0) -> None:
        """Close the pipe; the helper exits once it has answered what it was asked."""
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        try:
            self._proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    # -- the pipe ---------------------------------------------------------------------------------------------
    def _send(self, request: dict[str, Any]) -> int:
        with self._lock:
            self._next += 1
            ident = self._next
            self._waiting[ident] = (threading.Event(), {})
        line = json.dumps({"id": ident, **request}) + "\n"
        with self._write_lock:  # one line at a time; never under _lock, which the reader needs to hand answers out
            if self._gone is None:
                try:
                    assert self._proc.stdin is not None
                    self._proc.stdin.write(line)
                    self._proc.stdin.flush()
                except (OSError, ValueError) as exc:
                    self._gone = f"the MLflow helper process is gone ({exc})"
        if self._gone is not None:
            with self._lock:
                self._waiting[ident][0].set()
        return ident

    def _wait(self, ident: int) -> Any:
        with self._lock:
            event, answer = self._waiting[ident]
        event.wait()
        if ident != self._opened:
            with self._lock:
                self._waiting.pop(ident, None)
        if not answer:
            raise HelperGoneError(self._gone or "the MLflow helper process is gone")
        if "error" in answer:
            raise _error(answer)
        return answer.get("value")

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                answer = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                slot = self._waiting.get(answer.get("id"))
            if slot is not None:
                slot[1].update(answer)
                slot[0].set()
        code = self._proc.wait()
        with self._lock:
            self._gone = self._gone or f"the MLflow helper process exited (status {code})"
            for event, _ in self._waiting.values():
                event.set()


def _error_kinds() -> dict[str, type[BaseException]]:
    """The errors an answer can carry, by the name it carries them under (the helper's classification)."""
    from yololab.adapters import mlflow_recorder as rec

    return {
        "auth": rec.TrackingAuthError,
        "rejected": rec.CallRejectedError,
        "outage": rec.ServerUnavailableError,
        "open": HelperGoneError,
    }


def _error(answer: dict[str, Any]) -> BaseException:
    kind, message = answer["error"], answer.get("message", "")
    error = _error_kinds().get(kind, RuntimeError)
    if kind == "auth":
        return error(message, status=answer.get("status"))  # type: ignore[call-arg]
    return error(message)


_HELPERS: dict[str, ClientProcess] = {}
_HELPERS_LOCK = threading.Lock()


def acquire(uri: str) -> ClientProcess:
    """This process's helper for ``uri`` (started on first use); pair every call with :func:`release`."""
    with _HELPERS_LOCK:
        helper = _HELPERS.get(uri)
        if helper is None or helper._gone is not None:
            helper = _HELPERS[uri] = ClientProcess(uri)
        helper.users += 1
        return helper


def release(helper: ClientProcess) -> None:
    """One user fewer; the last one closes the helper."""
    with _HELPERS_LOCK:
        helper.users -= 1
        if helper.users > 0:
            return
        if _HELPERS.get(helper.uri) is helper:
            del _HELPERS[helper.uri]
    helper.close()


# ------------------------------------------------------------------------------------------------ the helper


def _answer(out: Any, ident: Any, **fields: Any) -> None:
    out.write(json.dumps({"id": ident, **fields}) + "\n")
    out.flush()


def _serve() -> None:
    """The helper's loop: one request a line on stdin, one answer a line on the original stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything MLflow prints goes to stderr, never into the answers
    from yololab.adapters import mlflow_recorder as rec

    kinds = _error_kinds()
    client = None
    for line in sys.stdin:
        request = json.loads(line)
        ident, call = request.get("id"), request.get("call")
        try:
            if call == "open":
                try:
                    client = rec.open_client(request["uri"])
                except Exception as exc:
                    _answer(out, ident, error="open", message=rec.redact_value(f"{exc}"))
                    continue
                _answer(out, ident, value=None)
            elif client is None:
                _answer(out, ident, error="open", message="no MLflow client")
            else:
                args = {k: v for k, v in request.items() if k not in ("id", "call")}
                _answer(out, ident, value=rec.client_call(client, call, **args))
        except Exception as exc:
            error = rec._classify(exc)
            kind = next((k for k, cls in kinds.items() if type(error) is cls), "other")
            message = str(error) if kind != "other" else rec.redact_value(f"{type(exc).__name__}: {exc}")
            _answer(out, ident, error=kind, message=message, status=getattr(error, "status", None))
    _exit_now(out)


def _exit_now(out: Any) -> None:
    """End the helper at once when its pipe closes.

    Every request has been answered, so every call has returned (a SQLite commit is durable, an HTTP request
    complete); the interpreter's teardown with MLflow loaded would only free memory, and takes about 1 s of CPU
    that the experiment's process waits for.
    """
    out.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    _serve()

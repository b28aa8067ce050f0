"""Shared fixtures: a real ``mlflow server`` on 127.0.0.1 for integration tests.

``mlflow_server`` (session scope) starts one server for the whole test session - SQLite backend and artifacts in a
temporary folder, one worker, MLflow's job runner off - and polls ``/health`` (up to 90 s; it takes 18-36 s on a
2-core machine). Use its ``.uri`` as the tracking URI::

    @pytest.mark.integration
    def test_something(mlflow_server, tmp_path):
        with ExperimentRecorder(experiment_name="t", experiment_type="train", tracking_uri=mlflow_server.uri,
                                journal_dir=tmp_path / "journal") as rec:
            ...

Use a unique experiment name per test (the store is shared by every test of the session). For a server that a test
may kill and restart, use ``mlflow_server_factory`` (function scope): ``server = mlflow_server_factory()`` starts a
private server (``server.stop(kill=True)`` simulates a crash, ``server.start()`` restarts it on the same store and
port); every server it started is stopped after the test. Each start costs 20-40 s: keep such tests rare.
Servers are started in their own process group, so stopping one ends its uvicorn workers too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SERVER_START_TIMEOUT_S = 90.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class MlflowServer:
    """A real ``mlflow server`` process on 127.0.0.1 with a SQLite store in ``root``.

    Attributes:
        root: folder holding ``mlflow.db``, ``artifacts/`` and ``server.log``.
        port: the TCP port it listens on (kept across restarts).
        process: the running server, or ``None`` when stopped.
    """

    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        """The tracking URI (``http://127.0.0.1:<port>``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """The server's combined stdout/stderr."""
        return self.root / "server.log"

    def start(self, timeout_s: float = SERVER_START_TIMEOUT_S) -> MlflowServer:
        """Start the server (same store and port as before) and wait until ``/health`` answers ``OK``."""
        self.root.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{(self.root / 'mlflow.db').resolve()}",
            "--artifacts-destination", str((self.root / "artifacts").resolve()),
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
        ]  # fmt: skip
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        env.pop("MLFLOW_TRACKING_URI", None)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self._wait_healthy(timeout_s)
        return self

    def _wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {self.process.returncode}; see {self.log_path}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.uri}/health", timeout=2) as response:
                if response.status == 200:
                    return
            time.sleep(0.5)
        self.stop(kill=True)
        raise RuntimeError(f"mlflow server not healthy after {timeout_s:.0f} s; see {self.log_path}")

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server's process group: SIGKILL at once when ``kill`` (a crash), else SIGTERM then SIGKILL."""
        if self.process is None:
            return
        pgid = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            self.process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):  # workers that outlived the main process
            os.killpg(pgid, signal.SIGKILL)
        self.process = None


def start_mlflow_server(root: Path, *, port: int | None = None) -> MlflowServer:
    """Start a server with its store in ``root`` (on ``port``, default a free one); the caller stops it."""
    server = MlflowServer(root=root) if port is None else MlflowServer(root=root, port=port)
    return server.start()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """One real ``mlflow server`` for the whole session (``.uri``); stopped at the end."""
    server = start_mlflow_server(tmp_path_factory.mktemp("mlflow-server"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mlflow_server_factory(tmp_path: Path) -> Iterator[Callable[[], MlflowServer]]:
    """Start private servers (``factory()``) that the test may kill and restart; all are stopped afterwards."""
    servers: list[MlflowServer] = []

    def factory() -> MlflowServer:
        server = start_mlflow_server(tmp_path / f"mlflow-server-{len(servers)}")
        servers.append(server)
        return server

    try:
        yield factory
    finally:
        for server in servers:
            server.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Documented examples (``--doctest-modules`` on ``src/``) are quick tests."""
    for item in items:
        if isinstance(item, pytest.DoctestItem):
            item.add_marker(pytest.mark.quick)

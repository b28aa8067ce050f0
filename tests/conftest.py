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

``mlflow_auth_server`` (session scope, started by the first test that asks for it) is a server with MLflow's basic
auth (``--app-name basic-auth``): admin ``AUTH_ADMIN`` / ``AUTH_ADMIN_PASSWORD``, default permission READ. Its
``.admin_call(method, path, body)`` calls the auth REST API as the admin (e.g. to create users) and
``.uri_with(user, password)`` builds a tracking URI with credentials.
"""

from __future__ import annotations

import base64
import contextlib
import json
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
AUTH_ADMIN = "admin"
AUTH_ADMIN_PASSWORD = "yololab-Adm1n-Pass"
"""The basic-auth server's admin (MLflow wants at least 12 characters)."""


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
    basic_auth: bool = False

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
        for name in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            env.pop(name, None)
        if self.basic_auth:
            ini = self.root / "basic_auth.ini"
            ini.write_text(
                "[mlflow]\ndefault_permission = READ\n"
                f"database_uri = sqlite:///{(self.root / 'basic_auth.db').resolve()}\n"
                f"admin_username = {AUTH_ADMIN}\n"
                "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            )
            cmd += ["--app-name", "basic-auth"]
            env.update(MLFLOW_AUTH_CONFIG_PATH=str(ini), MLFLOW_AUTH_ADMIN_PASSWORD=AUTH_ADMIN_PASSWORD,
                       MLFLOW_FLASK_SERVER_SECRET_KEY="yololab-tests-only")  # fmt: skip
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

    def uri_with(self, user: str, password: str) -> str:
        """The tracking URI with credentials in it (``http://user:password@127.0.0.1:<port>``)."""
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    def admin_call(self, method: str, path: str, body: dict[str, object]) -> dict[str, object]:
        """Call the server's REST API as the basic-auth admin (``path`` like ``/api/2.0/mlflow/users/create``)."""
        token = base64.b64encode(f"{AUTH_ADMIN}:{AUTH_ADMIN_PASSWORD}".encode()).decode()
        request = urllib.request.Request(
            f"{self.uri}{path}", data=json.dumps(body).encode(), method=method,
            headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

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


def start_mlflow_server(root: Path, *, port: int | None = None, basic_auth: bool = False) -> MlflowServer:
    """Start a server with its store in ``root`` (on ``port``, default a free one); the caller stops it."""
    server = MlflowServer(root=root, basic_auth=basic_auth)
    if port is not None:
        server.port = port
    return server.start()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """One real ``mlflow server`` for the whole session (``.uri``); stopped at the end."""
    server = start_mlflow_server(tmp_path_factory.mktemp("mlflow-server"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mlflow_auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """One real ``mlflow server --app-name basic-auth`` for the session (admin: ``AUTH_ADMIN``); stopped at the end."""
    server = start_mlflow_server(tmp_path_factory.mktemp("mlflow-auth-server"), basic_auth=True)
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


NETWORK_GUARD = """
import errno, json, os, socket

_ALLOWED = {int(p) for p in os.environ["YOLOLAB_TEST_ALLOWED_PORTS"].split(",") if p}
_LOG = os.environ["YOLOLAB_TEST_NETWORK_LOG"]
_LOCAL = {"127.0.0.1", "::1", "localhost"}


def _blocked(what):
    with open(_LOG, "a") as fh:
        fh.write(json.dumps(what) + "\\n")


def _check(sock, address):
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        host, port = str(address[0]), int(address[1])
        if host not in _LOCAL or port not in _ALLOWED:
            _blocked({"connect": [host, port], "pid": os.getpid()})
            raise OSError(errno.ENETUNREACH, f"network blocked by the test: {host}:{port}")


_connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo


def connect(self, address):
    _check(self, address)
    return _connect(self, address)


def connect_ex(self, address):
    _check(self, address)
    return _connect_ex(self, address)


def getaddrinfo(host, *args, **kwargs):
    if host is not None and str(host) not in _LOCAL:
        _blocked({"resolve": str(host), "pid": os.getpid()})
        raise socket.gaierror(socket.EAI_NONAME, f"name resolution blocked by the test: {host}")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
"""

CI_MARKERS = ("PYTEST_CURRENT_TEST", "CI", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "JENKINS_URL", "TF_BUILD")
"""Variables that make libraries (MLflow's telemetry) stay quiet in CI; a guarded run drops them, as a user has none."""


@dataclass
class NetworkGuard:
    """Environment for a subprocess whose every connection beyond ``127.0.0.1:<allowed ports>`` is refused.

    A ``sitecustomize`` module (first on ``PYTHONPATH``, so every Python process started from it loads it) wraps
    ``socket.socket.connect``/``connect_ex`` and ``socket.getaddrinfo``; each refused attempt is appended to
    ``log`` as a JSON line. Native code that opens sockets without Python's ``socket`` module is not seen.
    """

    folder: Path
    log: Path

    def env(self, *allowed_ports: int, base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment to run a subprocess with (``base`` or this one, CI markers removed)."""
        env = {k: v for k, v in (base or os.environ).items() if k not in CI_MARKERS}
        env["PYTHONPATH"] = os.pathsep.join([str(self.folder), *filter(None, [env.get("PYTHONPATH")])])
        env["YOLOLAB_TEST_ALLOWED_PORTS"] = ",".join(str(p) for p in allowed_ports)
        env["YOLOLAB_TEST_NETWORK_LOG"] = str(self.log)
        return env

    def attempts(self) -> list[dict[str, object]]:
        """Every connection or name resolution the guard refused."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]


@pytest.fixture
def network_guard(tmp_path: Path) -> NetworkGuard:
    """A :class:`NetworkGuard` writing its ``sitecustomize.py`` and log under ``tmp_path``."""
    folder = tmp_path / "network-guard"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(NETWORK_GUARD)
    return NetworkGuard(folder=folder, log=tmp_path / "network-attempts.jsonl")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Documented examples (``--doctest-modules`` on ``src/``) are quick tests."""
    for item in items:
        if isinstance(item, pytest.DoctestItem):
            item.add_marker(pytest.mark.quick)

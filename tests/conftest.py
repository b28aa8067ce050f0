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

``postgres_server`` (session scope) is a real PostgreSQL server (Debian's ``postgresql`` binaries, found with
``pg_config --bindir`` or under ``/usr/lib/postgresql/<version>/bin``; ``.ci/run`` installs them) on 127.0.0.1 with
password (SCRAM) authentication, its cluster in a fresh temporary folder (~1 s to ``initdb`` and start here). As root,
the server runs as the ``postgres`` system user (PostgreSQL refuses root). ``team_server`` (session scope) is the
team setup the README describes: ``mlflow server`` on that PostgreSQL (``--backend-store-uri postgresql://...``),
proxied artifacts (``--artifacts-destination``) and basic auth whose user database is PostgreSQL too; the user
``TEAM_USER`` can log in. Without PostgreSQL or ``psycopg`` (3) these fixtures fail in CI (``CI=true``) and skip, saying
why, elsewhere.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("YOLOLAB_MLFLOW_HELPER", "0")
"""Recorders send in-process in this test session (one MLflow import, not one helper per recorder); the helper
process has its own tests (tests/test_mlflow_helper.py). Set it to 1 to run the suite through helpers."""

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
    backend_store_uri: str | None = None
    """``None``: SQLite in ``root``; else e.g. ``postgresql://user:password@127.0.0.1:port/mlflow``."""
    auth_database_uri: str | None = None
    """The basic-auth user database; ``None``: SQLite in ``root``."""

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
            "--backend-store-uri", self.backend_store_uri or f"sqlite:///{(self.root / 'mlflow.db').resolve()}",
            "--artifacts-destination", str((self.root / "artifacts").resolve()),
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
        ]  # fmt: skip
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        for name in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            env.pop(name, None)
        if self.basic_auth:
            ini = self.root / "basic_auth.ini"
            auth_db = self.auth_database_uri or f"sqlite:///{(self.root / 'basic_auth.db').resolve()}"
            ini.write_text(
                "[mlflow]\ndefault_permission = READ\n"
                f"database_uri = {auth_db}\n"
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


TEAM_USER = "alice"
TEAM_PASSWORD = "alice-Team-Pass-42"
"""A user of the team server (not an admin; MLflow makes each user MANAGE the experiments they create)."""
PG_USER = "yololab"
PG_PASSWORD = "yololab-Pg-Pass-42"


def _postgres_bindir() -> Path | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10, check=False)
        bindir = Path(out.stdout.strip())
        if out.returncode == 0 and (bindir / "initdb").exists() and (bindir / "postgres").exists():
            return bindir
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else None


def _missing(why: str) -> None:
    """Fail in CI (the team-server tests must run there), skip with the reason elsewhere."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"team server unavailable in CI: {why} (.ci/run installs postgresql; the dev extra psycopg)")
    pytest.skip(f"team server unavailable: {why} (apt-get install postgresql; pip install -e '.[dev]')")


@dataclass
class PostgresServer:
    """A real PostgreSQL server on 127.0.0.1 with password authentication; its cluster lives in ``root``.

    Attributes:
        root: folder of the cluster (``data/``), its log and its Unix socket.
        bindir: the PostgreSQL binaries used.
        port: the TCP port.
    """

    root: Path
    bindir: Path
    port: int = field(default_factory=free_port)

    def _as_owner(self, *cmd: str) -> list[str]:
        """Run as ``postgres`` when we are root (PostgreSQL refuses to run as root)."""
        return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)

    def start(self) -> PostgresServer:
        """``initdb`` (SCRAM passwords) and ``pg_ctl start -w`` (waits until it accepts connections)."""
        pwfile = self.root / "pwfile"
        pwfile.write_text(PG_PASSWORD + "\n")
        data, log = self.root / "data", self.root / "postgres.log"
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            shutil.chown(pwfile, "postgres")
        run = functools.partial(subprocess.run, check=True, capture_output=True, text=True, timeout=120)
        run(self._as_owner(str(self.bindir / "initdb"), "-D", str(data), "-U", PG_USER, "--pwfile", str(pwfile),
                           "--auth=scram-sha-256", "-E", "UTF8", "--no-sync"))  # fmt: skip
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
        run(self._as_owner(str(self.bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
                           "-o", options, "start"))  # fmt: skip
        return self

    def stop(self) -> None:
        """``pg_ctl stop -m fast``."""
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(self._as_owner(str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast",
                                          "-w", "stop"), capture_output=True, timeout=60, check=False)  # fmt: skip

    def uri(self, database: str) -> str:
        """A SQLAlchemy URI for ``database`` (``postgresql://yololab:<password>@127.0.0.1:<port>/<database>``)."""
        return f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> Any:
        """A psycopg (3) connection in autocommit mode."""
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user=PG_USER, password=PG_PASSWORD,
                               dbname=database, autocommit=True)  # fmt: skip

    def create_database(self, name: str) -> str:
        """Create an empty database; returns its URI."""
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.uri(name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session (fails in CI, skips elsewhere, when it cannot be had)."""
    try:
        import psycopg  # noqa: F401  (SQLAlchemy 2.1's driver for postgresql:// URIs, in MLflow's server)
    except ImportError:
        _missing("the Python package psycopg (psycopg[binary]) is not installed")
    bindir = _postgres_bindir()
    if bindir is None:
        _missing("no PostgreSQL server binaries (initdb, postgres) found")
    root = Path(tempfile.mkdtemp(prefix="yololab-pg-"))  # /tmp itself: the postgres user must reach it
    server = PostgresServer(root=root, bindir=bindir)  # type: ignore[arg-type]
    try:
        server.start()
    except subprocess.CalledProcessError as err:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {err.stderr or err.stdout}") from None
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def team_server(tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer) -> Iterator[MlflowServer]:
    """``mlflow server`` on PostgreSQL with proxied artifacts and basic auth; ``TEAM_USER`` exists."""
    server = MlflowServer(
        root=tmp_path_factory.mktemp("team-server"), basic_auth=True,
        backend_store_uri=postgres_server.create_database("mlflow"),
        auth_database_uri=postgres_server.create_database("mlflow_auth"),
    )  # fmt: skip
    server.start()
    try:
        server.admin_call("POST", "/api/2.0/mlflow/users/create", {"username": TEAM_USER, "password": TEAM_PASSWORD})
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

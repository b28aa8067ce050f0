"""How long one logging step takes when the tracking server is unreachable (yololab recorder vs plain MLflow).

Two unreachable servers: a port nothing listens on (connection refused) and a socket that accepts connections and
never answers. For each, the yololab recorder is timed with the breaker forced to probe on every call
(``breaker_cooldown_s=0``: the worst case, one failing call per step) and with its default breaker (after the first
failure, steps go straight to the journal). For comparison, a plain ``MlflowClient.log_metric`` with MLflow's default
HTTP settings is given ``--mlflow-cap`` seconds to fail (NOTES: it blocked 247 s before raising).

Run: ``.venv/bin/python benchmarks/recorder_unreachable.py``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator


@contextlib.contextmanager
def refused() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def silent() -> Iterator[str]:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
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


def time_recorder(uri: str, cooldown_s: float, steps: int) -> tuple[float, list[float], float]:
    from yololab.adapters.mlflow_recorder import ExperimentRecorder

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rec = ExperimentRecorder(
            experiment_name="bench", experiment_type="train", tracking_uri=uri, journal_dir=tmp,
            breaker_cooldown_s=cooldown_s,
        )  # fmt: skip
        start_s = time.perf_counter() - t0
        times = []
        for step in range(steps):
            t1 = time.perf_counter()
            rec.log_metrics({"det.mAP50": 0.5, "sys.fps": 100.0}, step=step)
            times.append(time.perf_counter() - t1)
        t2 = time.perf_counter()
        rec.end()
        return start_s, times, time.perf_counter() - t2


def time_plain_mlflow(uri: str, cap_s: float) -> str:
    code = (
        f"import time; from mlflow.tracking import MlflowClient; c = MlflowClient({uri!r}); t = time.perf_counter()\n"
        "try:\n    c.log_metric('0' * 32, 'x', 1.0)\nexcept Exception: pass\nprint(time.perf_counter() - t)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_HTTP_REQUEST")}
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=cap_s, env=env)
        return f"{float(out.stdout.strip().splitlines()[-1]):.2f} s"
    except subprocess.TimeoutExpired:
        return f"> {cap_s:.0f} s (still blocked)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--mlflow-cap", type=float, default=30.0)
    args = parser.parse_args()
    print("| server | recorder | start | one step (median / max) | end | plain MLflow log_metric |")
    print("|---|---|---|---|---|---|")
    for name, make in (("nothing listening", refused), ("accepts, never answers", silent)):
        with make() as uri:
            plain = time_plain_mlflow(uri, args.mlflow_cap)
            for label, cooldown in (("probe every call", 0.0), ("default breaker (30 s)", 30.0)):
                start_s, steps, end_s = time_recorder(uri, cooldown, args.steps)
                print(
                    f"| {name} | {label} | {start_s:.2f} s | {statistics.median(steps):.3f} / {max(steps):.3f} s "
                    f"| {end_s:.2f} s | {plain} |"
                )


if __name__ == "__main__":
    main()

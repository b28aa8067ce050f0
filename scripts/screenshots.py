"""Screenshots of what a user sees after ``make demo``: the HTML report and the MLflow UI's run page.

Run from the folder ``make demo`` ran in::

    .venv/bin/python scripts/screenshots.py [--store sqlite:///mlflow.db] [--experiment yololab-demo]
        [--out docs/images]

Starts ``mlflow server`` on 127.0.0.1 (a free port, the given store, read only in effect), opens the infer run's page
and the experiment's runs table in headless Chromium (Debian's ``chromium``, driven by Playwright), writes
``report.html`` with ``yololab compare`` and screenshots it, then stops the server.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url: str, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer in {timeout_s:.0f} s")


def _model_training_view(page: object) -> None:
    """MLflow 3.17's sidebar toggle (a browser setting) wins over the experiment's kind tag: pick the training view."""
    for text in ("Model training", "Got it"):
        button = page.get_by_text(text, exact=True)  # type: ignore[attr-defined]
        if button.count():
            button.first.click()
            page.wait_for_timeout(1500)  # type: ignore[attr-defined]


def _tidy(page: object) -> None:
    """Close MLflow's assistant panel (it takes a third of the page) when it is open."""
    close = page.get_by_role("button", name="Close")  # type: ignore[attr-defined]
    if close.count():
        close.first.click()
        page.wait_for_timeout(500)  # type: ignore[attr-defined]


def main() -> None:
    """Take the three screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="sqlite:///mlflow.db")
    parser.add_argument("--experiment", default="yololab-demo")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "images")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from mlflow.tracking import MlflowClient
    from playwright.sync_api import sync_playwright

    store = args.store if "////" in args.store else f"sqlite:///{Path(args.store.removeprefix('sqlite:///')).resolve()}"
    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name(args.experiment)
    if experiment is None:
        raise SystemExit(f"no experiment {args.experiment!r} in {store}: run `make demo` first")
    infer = client.search_runs([experiment.experiment_id], "tags.`yololab.experiment_type` = 'infer'", max_results=1)[0]
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.html"
        subprocess.run([str(bin_dir / "yololab"), "compare", "--experiment", args.experiment, "--tracking-uri", store,
                        "--output", str(report)], check=True, capture_output=True)  # fmt: skip
        port = _free_port()
        server = subprocess.Popen(
            [str(bin_dir / "mlflow"), "server", "--backend-store-uri", store, "--host", "127.0.0.1", "--port",
             str(port), "--workers", "1", "--artifacts-destination", str(Path(tmp) / "artifacts")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            _wait(f"{base}/health")
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(report.as_uri())
                page.screenshot(path=str(args.out / "report.png"), full_page=False)
                page.goto(f"{base}/#/experiments/{experiment.experiment_id}/runs")
                page.wait_for_timeout(4000)
                _model_training_view(page)
                _tidy(page)
                expand = page.locator('[role="gridcell"] button')  # the demo's parent run: show its three runs
                if expand.count():
                    expand.first.click()
                    page.wait_for_timeout(1500)
                page.screenshot(path=str(args.out / "mlflow-runs.png"))
                page.goto(f"{base}/#/experiments/{experiment.experiment_id}/runs/{infer.info.run_id}")
                page.wait_for_timeout(5000)
                _tidy(page)
                page.screenshot(path=str(args.out / "mlflow-run.png"))
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"screenshots in {args.out}")


if __name__ == "__main__":
    main()

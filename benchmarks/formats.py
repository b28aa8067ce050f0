"""``yololab bench`` next to Ultralytics' ``benchmark()`` for the same formats, on the same model and data, in one run.

Run (after ``make demo``, whose model it measures; or pass ``--model`` and ``--data``)::

    .venv/bin/python benchmarks/formats.py [--model yololab-demo/runs/train/weights/best.pt]
        [--data yololab-demo/data/data.yaml] [--imgsz 128] [--iterations 100]

Both sides are whole processes, imports and output included, timed one after the other on the same machine. For
each format the script prints mAP50-95 and the mean latency from both, and the wall time of each whole sweep.
Ultralytics validates every format at batch 1 with ``conf=0.001`` (its validator's defaults); yololab validates
with the same validator, ``rect=False``; so the accuracies should agree to the validator's own differences.
Ultralytics' latency is its validator's mean forward time (``Results.speed["inference"]``: the model alone);
yololab's ``inference_time_ms`` is end to end per image (letterbox + forward + NMS), in alternating blocks after a
warm-up; its ``forward_time_ms`` is the comparable figure and is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FORMATS = {"torch": ("-", False), "onnx": ("onnx", False), "openvino": ("openvino", False),
           "openvino-int8": ("openvino", True)}  # fmt: skip
"""yololab format -> (Ultralytics benchmark format, int8)."""

ULTRALYTICS = """
import json, sys
from yololab.adapters.ultralytics_env import prepare_ultralytics_offline
prepare_ultralytics_offline()
from ultralytics.utils.benchmarks import benchmark
model, data, imgsz, fmt, int8 = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5] == "1"
table = benchmark(model=model, data=data, imgsz=imgsz, device="cpu", format=fmt, int8=int8, verbose=False)
rows = table.to_dicts() if hasattr(table, "to_dicts") else table.to_dict("records")
print("ROWS=" + json.dumps(rows, default=str))
"""


def _run(cmd: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    elapsed = time.perf_counter() - start
    if out.returncode not in (0, 3):
        raise SystemExit(f"{' '.join(cmd[:4])} failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return elapsed, out.stdout


def main() -> None:
    """Run both sweeps and print the side-by-side table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("yololab-demo/runs/train/weights/best.pt"))
    parser.add_argument("--data", type=Path, default=Path("yololab-demo/data/data.yaml"))
    parser.add_argument("--imgsz", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=100)
    args = parser.parse_args()
    model, data = args.model.resolve(), args.data.resolve()
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="yololab-formats-") as tmp:
        work = Path(tmp)
        ours_s, _ = _run(
            [str(bin_dir / "yololab"), "bench", "--model", str(model), "--data", str(data), "--formats",
             ",".join(FORMATS), "--set", f"imgsz={args.imgsz}", "--set", f"infer.iterations={args.iterations}",
             "--set", f"tracking.uri=sqlite:///{work / 'mlflow.db'}", "--set", f"output_dir={work / 'runs'}",
             "--set", "bench.gates.max_accuracy_drop=null", "--set", "run_name=formats-benchmark"],
            work,
        )  # fmt: skip
        ours = _read_child_runs(work / "mlflow.db")
        theirs, theirs_s = {}, 0.0
        for name, (fmt, int8) in FORMATS.items():
            private = work / "ultralytics" / name
            private.mkdir(parents=True)
            (private / model.name).write_bytes(model.read_bytes())  # Ultralytics exports next to the weights
            elapsed, out = _run(
                [sys.executable, "-c", ULTRALYTICS, str(private / model.name), str(data), str(args.imgsz), fmt,
                 "1" if int8 else "0"],
                private,
            )  # fmt: skip
            theirs_s += elapsed
            rows = json.loads(out.split("ROWS=", 1)[1].splitlines()[0])
            theirs[name] = rows[0] if rows else {}
    print(f"{'format':15} {'mAP50-95 yololab':>17} {'Ultralytics':>12} {'e2e ms yololab':>15} "
          f"{'forward ms yololab':>19} {'Ultralytics ms':>15}")  # fmt: skip
    for name in FORMATS:
        m, t = ours.get(name, {}), theirs.get(name, {})
        their_map = next((v for k, v in t.items() if "mAP50-95" in k), None)
        their_ms = next((v for k, v in t.items() if "Inference time" in k), None)
        print(f"{name:15} {_f(m.get('det.mAP50_95')):>17} {_f(their_map):>12} {_f(m.get('sys.inference_time_ms')):>15} "
              f"{_f(m.get('sys.forward_time_ms')):>19} {_f(their_ms):>15}")  # fmt: skip
    print(
        f"whole sweep: yololab bench {ours_s:.1f} s (one process, {len(FORMATS)} formats, validated + timed + "
        f"recorded) vs Ultralytics benchmark() {theirs_s:.1f} s ({len(FORMATS)} processes) -> "
        f"ratio {theirs_s / ours_s:.2f}"
    )


def _read_child_runs(db: Path) -> dict[str, dict[str, float]]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    experiment = client.get_experiment_by_name("yololab")
    runs = client.search_runs([experiment.experiment_id], "tags.`yololab.format` != ''", max_results=100)
    return {r.data.tags["yololab.format"]: r.data.metrics for r in runs}


def _f(value: object) -> str:
    try:
        return f"{float(value):.4f}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "—"


if __name__ == "__main__":
    main()

"""What yololab adds to a training run: plain Ultralytics training vs the same training through TrainingRunner.

Both arms train the same model YAML on the same synthetic world with the same arguments (the runner's own
``model.train`` arguments are reused for the plain arm), in one process, alternating A-B-B-A. The yololab arm adds
the epoch callbacks (metrics read from the validator, a TrainingMetricsSnapshot per epoch), the system collector
(sampling every 0.5 s), the MLflow recorder (a local SQLite store, created before timing as a user's store already
exists), the final evaluation of best.pt by yololab's validator, and the artifacts (weights, tables, plots).
Overhead = mean yololab wall time / mean plain wall time - 1. Targets: <= 0.5 % on the default training
(configs/train.yaml: 30 epochs, about 3 min here) and <= 2 % with ``--epochs 5``. yololab's cost is mostly fixed
(the run's creation, the final validation of best.pt by yololab's validator, model statistics, plots, the upload
at the end), so a shorter training shows a larger percentage. Measured 2026-12-02 on a quiet machine:
``--epochs 5``: -2.68 % (24.73 s vs 25.41 s); 30 epochs: -1.76 % wall, -1.66 % CPU (119.74 s vs 121.89 s; an hour
earlier, on a busier host, +2.17 % with the two plain runs 11 % apart). Figures: docs/benchmarks.md.

Run: ``python benchmarks/train_overhead.py [--epochs 30] [--repeats 1]`` (A-B-B-A: about 13 min on 2 cores).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from yololab.adapters.ultralytics_env import prepare_ultralytics_offline, ultralytics_log_level
from yololab.config import default_config_path, load_config
from yololab.runners._common import prepare_data
from yololab.runners.train import TrainingRunner


def _config(root: Path, epochs: int, arm: str) -> object:
    return load_config(
        default_config_path("train"),
        {
            "experiment": "train-overhead",
            "tracking.uri": f"sqlite:///{root / 'mlflow.db'}",
            "output_dir": str(root / arm),
            "data.root": str(root / "world"),
            "imgsz": 128,
            "train.epochs": epochs,
        },
    )


def plain(root: Path, epochs: int) -> float:
    """Ultralytics alone, with the arguments TrainingRunner would pass."""
    from ultralytics import YOLO

    cfg = _config(root, epochs, "plain")
    runner = TrainingRunner(cfg, quiet=True)
    args = runner._train_args(prepare_data(cfg, quiet=True), Path(cfg.output_dir).resolve() / "train")
    start = time.perf_counter()
    with ultralytics_log_level():
        YOLO(cfg.model, task="detect").train(**args)
    return time.perf_counter() - start


def with_yololab(root: Path, epochs: int) -> float:
    """The same training through TrainingRunner (callbacks, collector, recorder, artifacts)."""
    cfg = _config(root, epochs, "yololab")
    start = time.perf_counter()
    TrainingRunner(cfg, quiet=True).run()
    return time.perf_counter() - start


def _create_store(root: Path) -> None:
    """Create the SQLite tracking store (schema migrations take ~1.5 s once per store, not per run)."""
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}").search_experiments()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=1, help="A-B-B-A blocks")
    args = parser.parse_args()
    prepare_ultralytics_offline()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        prepare_data(_config(root, args.epochs, "plain"), quiet=True)
        _create_store(root)
        times: dict[str, list[float]] = {"plain": [], "yololab": []}
        cpus: dict[str, list[float]] = {"plain": [], "yololab": []}
        for _ in range(args.repeats):
            for arm in ("plain", "yololab", "yololab", "plain"):
                fn = plain if arm == "plain" else with_yololab
                cpu0 = _cpu_s()
                times[arm].append(fn(root, args.epochs))
                cpus[arm].append(_cpu_s() - cpu0)
                print(f"{arm:8s} {times[arm][-1]:7.2f} s wall {cpus[arm][-1]:7.2f} s CPU", flush=True)
    a, b = statistics.mean(times["plain"]), statistics.mean(times["yololab"])
    print(f"\nplain Ultralytics: mean {a:.2f} s over {len(times['plain'])} runs  {times['plain']}")
    print(f"yololab runner:    mean {b:.2f} s over {len(times['yololab'])} runs  {times['yololab']}")
    print(f"overhead: {100 * (b / a - 1):+.2f} % of wall time (target: <= 0.5 % at 30 epochs, <= 2 % at 5)")
    ca, cb = statistics.mean(cpus["plain"]), statistics.mean(cpus["yololab"])
    print(f"overhead: {100 * (cb / ca - 1):+.2f} % of CPU time ({cb:.2f} s vs {ca:.2f} s; every thread of this "
          "process and its finished children: steadier than wall time on a shared machine)")  # fmt: skip


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process's threads and of its children that have ended."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


if __name__ == "__main__":
    main()

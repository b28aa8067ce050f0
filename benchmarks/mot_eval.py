"""Benchmark: MOT evaluation as users run it - whole processes, side by side - on MOT17-train with MPNTrack.

Each contender is a fresh Python process evaluating all 21 MOT17-train sequences with HOTA, CLEAR and Identity
(MOT17 preprocessing), from reading the files to writing its results:

* ``yololab eval-mot --benchmark MOT17 ... --json FILE``, with the default ``--jobs`` (the usable cores) and with
  ``--jobs 1``;
* TrackEval (PyPI ``trackeval``), as its ``scripts/run_mot_challenge.py`` runs it: ``USE_PARALLEL`` off (its
  default), results printed and its summary files written, ``PLOT_CURVES`` off; and with ``USE_PARALLEL`` on
  (``NUM_PARALLEL_CORES`` = the usable cores), for reference;
* roboflow ``trackers`` (``trackers.eval.evaluate_mot_sequences``) and ``motrics`` when installed.

Each contender runs once untimed first, then the runs are interleaved (round-robin over the contenders, ``--repeat``
rounds) so that load from other jobs on the machine spreads over all of them. Every run gets this environment
without ``PYTHONDONTWRITEBYTECODE`` (a default Python: bytecode caches are used and written, as for a user), and
yololab runs as its console script. The table gives the median and the best wall time, the peak RSS and the ratio of
TrackEval's median wall time to each median. Peak RSS is measured two ways: ``ru_maxrss`` of ``os.wait4`` (the
largest single process of the run - a worker or the main process) in every timed run, and, in one extra untimed run
of each, the sum of the RSS of the whole process tree polled every 5 ms with psutil (pages that forked workers share
with their parent count once per process, so this overstates a multi-process run). Usage::

    .venv/bin/python benchmarks/mot_eval.py [--data ../shared/data/mot17] [--repeat 3] [--only yololab,trackeval]
    .venv/bin/python benchmarks/mot_eval.py --parsers   # the candidate text parsers: import and parse times
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_DATA = Path(
    os.environ.get("YOLOLAB_MOT17_DIR", Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mot17")
)

YOLOLAB = "import sys; from yololab.cli import main; sys.argv[0] = 'yololab'; main()"
"""What the ``yololab`` console script runs (where the script is not beside this Python, the same code)."""

TRACKEVAL = """
import sys, trackeval
gt, trackers, seqmap, out, parallel, cores = sys.argv[1:7]
config = trackeval.Evaluator.get_default_eval_config()
config.update({"USE_PARALLEL": parallel == "1", "NUM_PARALLEL_CORES": int(cores), "PLOT_CURVES": False})
dataset = trackeval.datasets.MotChallenge2DBox.get_default_dataset_config()
dataset.update({"GT_FOLDER": gt, "TRACKERS_FOLDER": trackers, "TRACKERS_TO_EVAL": ["MPNTrack"],
                "TRACKER_SUB_FOLDER": "", "SKIP_SPLIT_FOL": True, "SEQMAP_FILE": seqmap, "BENCHMARK": "MOT17",
                "OUTPUT_FOLDER": out})
metrics = [trackeval.metrics.HOTA(), trackeval.metrics.CLEAR(), trackeval.metrics.Identity()]
res, _ = trackeval.Evaluator(config).evaluate([trackeval.datasets.MotChallenge2DBox(dataset)], metrics)
r = res["MotChallenge2DBox"]["MPNTrack"]["COMBINED_SEQ"]["pedestrian"]
print("RESULT", r["HOTA"]["HOTA"].mean(), r["CLEAR"]["MOTA"], r["Identity"]["IDF1"], r["CLEAR"]["IDSW"])
"""

TRACKERS = """
import sys
from trackers.eval import evaluate_mot_sequences
gt, pred, seqmap = sys.argv[1:4]
r = evaluate_mot_sequences(gt, pred, seqmap=seqmap, metrics=["CLEAR", "HOTA", "Identity"])
print(r.table())
a = r.aggregate
print("RESULT", a.HOTA.HOTA, a.CLEAR.MOTA, a.Identity.IDF1, a.CLEAR.IDSW)
"""

MOTRICS = """
import sys
from pathlib import Path
import motrics
gt_dir, pred_dir, seqmap = map(Path, sys.argv[1:4])
idsw = 0
for seq in seqmap.read_text().split()[1:]:
    gt = motrics.load_motchallenge_gt(gt_dir / seq / "gt" / "gt.txt")
    pred = motrics.load_motchallenge(pred_dir / f"{seq}.txt")
    gt_ids, gt_boxes, pred_ids, pred_boxes = motrics.preprocess_motchallenge(gt, pred)
    res = motrics.evaluate(motrics.Frames(gt_ids, gt_boxes), motrics.Frames(pred_ids, pred_boxes))
    idsw += res.clear.num_switches
print("RESULT", "-", "-", "-", idsw)  # motrics 0.3 has no cross-sequence combination: summed IDSW only
"""


PARSERS = """
import sys, time
t0 = time.perf_counter()
kind, files = sys.argv[1], sys.argv[2:]
import io
import numpy as np
if kind == "pandas":
    import pandas as pd
    parse = lambda d: pd.read_csv(io.BytesIO(d), header=None, sep=",", dtype=np.float64, engine="c").to_numpy()
elif kind == "pyarrow":
    import pyarrow.csv as pc
    opts = pc.ReadOptions(autogenerate_column_names=True, use_threads=False)
    parse = lambda d: np.column_stack([c.to_numpy() for c in pc.read_csv(io.BytesIO(d), read_options=opts).columns])
elif kind == "numpy.loadtxt":
    parse = lambda d: np.loadtxt(io.BytesIO(d), delimiter=",", ndmin=2, comments=None)
elif kind == "numpy.fromstring":
    parse = lambda d: np.fromstring(d.replace(b"\\n", b","), sep=",")
else:  # with the allocator settings yololab eval-mot makes (yololab/cli/allocator.py); every column converted
    from yololab.cli.allocator import keep_freed_memory
    from yololab.metrics.mot.textparse import parse_rows
    keep_freed_memory()
    parse = lambda d: parse_rows(d)[0]
t1 = time.perf_counter()
datas = [open(f, "rb").read() for f in files]
best = float("inf")
for _ in range(3):
    t = time.perf_counter()
    for d in datas:
        parse(d)
    best = min(best, time.perf_counter() - t)
print(f"{t1 - t0:.3f} {best:.3f} {sum(map(len, datas)) / 2**20:.1f}")
"""
"""Times one parser (given by name) in a fresh process: its import, then the best of 3 passes over the files."""


def parser_figures(data: Path) -> None:
    """Import time and parse time of each candidate parser on the 42 MOT17-train files (ground truth + MPNTrack)."""
    files = sorted(map(str, (data / "MOT17" / "train").glob("*/gt/gt.txt")))
    files += sorted(map(str, (data / "trackers" / "MPNTrack").glob("*.txt")))
    print(f"{'parser':22s} {'import s':>9s} {'parse s':>8s} {'import + parse s':>17s}  ({len(files)} files)")
    for kind in ("yololab (numpy SWAR)", "pandas", "pyarrow", "numpy.loadtxt", "numpy.fromstring"):
        module = {"pandas": "pandas", "pyarrow": "pyarrow"}.get(kind)
        if module and not _installed(module):
            print(f"{kind:22s} not installed")
            continue
        out = subprocess.run([sys.executable, "-c", PARSERS, kind, *files], capture_output=True, text=True)
        if out.returncode:
            print(f"{kind:22s} failed: {out.stderr.strip().splitlines()[-1]}")
            continue
        imp, parse, mib = map(float, out.stdout.split())
        print(f"{kind:22s} {imp:9.3f} {parse:8.3f} {imp + parse:17.3f}  ({mib:.1f} MiB)")


def _installed(module: str) -> bool:
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def _usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def contenders(data: Path, out: Path, only: set[str] | None) -> dict[str, list[str]]:
    """Name -> command line of each contender that is installed."""
    gt, trackers = data / "MOT17" / "train", data / "trackers"
    pred, seqmap = trackers / "MPNTrack", data / "MOT17" / "seqmaps" / "MOT17-train.txt"
    cores = str(_usable_cores())
    args = ["eval-mot", "--gt", str(gt), "--pred", str(pred), "--seqmap", str(seqmap), "--benchmark", "MOT17"]
    py = sys.executable
    script = Path(py).parent / "yololab"
    yololab = [str(script)] if script.is_file() else [py, "-c", YOLOLAB]
    runs = {
        "yololab": [*yololab, *args, "--json", str(out / "yololab.json")],
        "yololab --jobs 1": [*yololab, *args, "--jobs", "1", "--json", str(out / "yololab1.json")],
        "trackeval": [py, "-c", TRACKEVAL, str(gt), str(trackers), str(seqmap), str(out / "te"), "0", cores],
        f"trackeval parallel ({cores})": [
            py, "-c", TRACKEVAL, str(gt), str(trackers), str(seqmap), str(out / "tep"), "1", cores
        ],
        "trackers 2.6.1": [py, "-c", TRACKERS, str(gt), str(pred), str(seqmap)],
        "motrics": [py, "-c", MOTRICS, str(gt), str(pred), str(seqmap)],
    }  # fmt: skip
    needs = {"trackers 2.6.1": "trackers", "motrics": "motrics"}
    chosen = {}
    for name, cmd in runs.items():
        key = name.split(" ")[0]
        if only is not None and key not in only and name not in only:
            continue
        if name in needs and not _installed(needs[name]):
            print(f"{name}: not installed, skipped")
            continue
        chosen[name] = cmd
    return chosen


def user_env() -> dict[str, str]:
    """This environment as a default Python has it: bytecode caches written and read (``PYTHONDONTWRITEBYTECODE``,
    which some sandboxes set, removed), so that no contender compiles its sources again in every run - pip compiles
    an installed package's modules when it installs them, an editable install's on their first import."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def timed_run(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, ``ru_maxrss`` (MiB; the largest process of the run) and stdout of one run."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as stdout:
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, env=user_env())
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        stdout.seek(0)
        text = stdout.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]}... exited {proc.returncode}: {err[-2000:]}")
    return wall, usage.ru_maxrss / 1024, text


def tree_peak_mib(cmd: list[str], interval: float = 0.005) -> float:
    """Peak of the summed RSS of the process and its descendants, polled (MiB)."""
    import psutil

    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=user_env())
    root = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        total = 0
        with contextlib.suppress(psutil.Error):
            for p in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
        peak = max(peak, total)
        time.sleep(interval)
    return peak / 2**20


def _result_line(name: str, text: str, out: Path) -> str:
    if name.startswith("yololab"):
        path = out / ("yololab1.json" if "jobs 1" in name else "yololab.json")
        c = json.loads(path.read_text())["combined"]
        return f"HOTA {c['hota']:.6f} MOTA {c['mota']:.6f} IDF1 {c['idf1']:.6f} IDSW {c['id_switches']}"
    for line in text.splitlines():
        if line.startswith("RESULT"):
            v = line.split()[1:]
            fmt = [f"{float(x):.6f}" if x != "-" else "-" for x in v[:3]]
            return f"HOTA {fmt[0]} MOTA {fmt[1]} IDF1 {fmt[2]} IDSW {v[3]}"
    return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with MOT17/ and trackers/")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each contender (interleaved)")
    parser.add_argument("--only", default=None, help="comma-separated contender names (e.g. yololab,trackeval)")
    parser.add_argument("--no-tree-memory", action="store_true", help="skip the polled process-tree RSS run")
    parser.add_argument("--parsers", action="store_true", help="time the candidate text parsers instead")
    args = parser.parse_args()
    if not (args.data / "MOT17" / "train").is_dir():
        raise SystemExit(f"MOT17 data not found at {args.data} (use --data or YOLOLAB_MOT17_DIR)")
    if args.parsers:
        parser_figures(args.data)
        return
    only = None if args.only is None else {s.strip() for s in args.only.split(",")}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        runs = contenders(args.data, out, only)
        (out / "te").mkdir()
        (out / "tep").mkdir()
        walls: dict[str, list[float]] = {n: [] for n in runs}
        rss: dict[str, float] = dict.fromkeys(runs, 0.0)
        results: dict[str, str] = {}
        for cmd in runs.values():  # one untimed run each: bytecode caches and the page cache filled
            timed_run(cmd)
        load_before = os.getloadavg()
        for _ in range(args.repeat):
            for name, cmd in runs.items():
                wall, mib, text = timed_run(cmd)
                walls[name].append(wall)
                rss[name] = max(rss[name], mib)
                results[name] = _result_line(name, text, out)
        tree = {} if args.no_tree_memory else {name: tree_peak_mib(cmd) for name, cmd in runs.items()}
        load_after = os.getloadavg()
    base = statistics.median(walls["trackeval"]) if "trackeval" in walls else None
    print(
        f"python {sys.version.split()[0]}, {_usable_cores()} usable cores, one warm-up and {args.repeat} interleaved "
        "runs each; "
        f"load average before/after: {', '.join(f'{x:.1f}' for x in load_before)} / "
        f"{', '.join(f'{x:.1f}' for x in load_after)}"
    )
    print(f"{'':28s} {'median s':>9s} {'best s':>8s} {'max RSS MiB':>12s} {'tree RSS MiB':>13s} {'vs TrackEval':>13s}")
    for name in runs:
        med, best = statistics.median(walls[name]), min(walls[name])
        ratio = f"{base / med:12.1f}x" if base else " " * 13
        tree_mib = f"{tree[name]:13.1f}" if name in tree else " " * 13
        print(f"{name:28s} {med:9.3f} {best:8.3f} {rss[name]:12.1f} {tree_mib} {ratio}  {results[name]}")
    print("all runs (s):", {n: [round(w, 3) for w in ws] for n, ws in walls.items()})


if __name__ == "__main__":
    main()

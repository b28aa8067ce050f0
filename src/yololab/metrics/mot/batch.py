"""Benchmark folders evaluated in one call: several trackers, the ground truth read once, sequences in parallel.

:func:`evaluate_benchmark` is what ``yololab eval-mot`` runs; it gives, per tracker, the :class:`MOTEvaluation`
that ``evaluate_mot(load_benchmark(gt_dir, pred_dir).sequences, ...)`` gives - the same functions on the same
data, combined in the same order, so the numbers are bit-identical - however many worker processes share the work.

How the work is cut: sequences whose ``gt.txt`` files have the same size form a group (MOT17 ships each scene's
ground truth three times, byte for byte; a :class:`~yololab.metrics.mot.motchallenge.GroundTruthReader` parses such
bytes once), and every tracker is evaluated on a sequence right after its ground truth is read. With ``jobs = 1``
each group is a task, run in this process one after another (no ``multiprocessing`` import, one sequence in memory
at a time). With more, each sequence is a task; the tasks are lined up group by group, largest group first, and
``jobs - 1`` worker processes take them from the front while this process takes them from the back, one at a time,
so the work evens out to within about one sequence; each process keeps the last ground truth it parsed, so a group
is parsed twice only where two processes meet in it. Each task returns, per sequence and tracker, the per-class
scores and the warnings and errors met; this process then re-issues the warnings and raises the first error in the
order a one-process evaluation meets them (sequence by sequence; within a sequence the ground truth, then the
trackers in order), and combines the sequences in order.

Workers are started with ``fork`` on Linux (they inherit the imported modules, so none is imported twice; the
collector is frozen first so that inherited pages stay shared) and with the platform's default elsewhere; a task is
plain data (paths and options) and its function is importable, so any start method (``spawn``, ``forkserver``)
works.
"""

from __future__ import annotations

import gc
import os
import sys
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from yololab.metrics.mot.evaluate import (
    ALL_FAMILIES,
    Benchmark,
    MetricFamily,
    MOTEvaluation,
    MOTScores,
    _combine,
    evaluate_prepared,
    prepare_sequence,
)
from yololab.metrics.mot.frames import Frames, MOTDataError, MOTSequence, PreparedSequence
from yololab.metrics.mot.motchallenge import (
    FolderPlan,
    GroundTruthReader,
    MOTDataWarning,
    missing_result_warning,
    plan_benchmark,
    read_mot_file,
    sequence_length,
)
from yololab.metrics.mot.prepare import PEDESTRIAN, RowOrigin

__all__ = ["evaluate_benchmark", "tracker_names", "usable_cores"]


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one, else ``os.cpu_count()``)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def tracker_names(pred_dirs: Sequence[str | Path]) -> dict[str, Path]:
    """Tracker name -> result folder: each folder's name (TrackEval's ``TRACKERS_TO_EVAL``).

    Raises:
        MOTDataError: two folders with the same name.
    """
    out: dict[str, Path] = {}
    for raw in pred_dirs:
        path = Path(raw)
        folder = path.resolve() if path.name in ("", ".", "..") else path
        name = folder.resolve().parent.name if folder.name == "data" else folder.name  # TrackEval: <tracker>/data
        if name in out:
            raise MOTDataError(f"{path} and {out[name]}: two trackers named {name!r}; expected one folder per tracker")
        out[name] = path
    return out


@dataclass(frozen=True)
class _Options:
    benchmark: str
    classes: tuple[int, ...] | None
    iou_threshold: float
    metrics: tuple[str, ...]

    @property
    def auto_classes(self) -> bool:
        """Classes found in the data (custom data without ``classes``): all files are read before evaluating."""
        return self.benchmark == "none" and self.classes is None


@dataclass(frozen=True)
class _Task:
    """Sequences (in order) of one ground-truth folder, with every tracker's result files for them."""

    gt_dir: str
    names: tuple[str, ...]
    trackers: tuple[tuple[str, dict[str, str]], ...]  # (result folder, {sequence: result file}) per tracker
    options: _Options
    cost: int = 0
    first: int = 0  # position of the first sequence in evaluation order


_Caught = tuple[type[Warning], str]


@dataclass
class _TrackerResult:
    """One tracker on one sequence: what reading its file warned, and its scores or error."""

    warnings: list[_Caught] = field(default_factory=list)
    read_error: MOTDataError | None = None
    error: MOTDataError | None = None  # preparing/evaluating (for automatic classes: as one class)
    scores: dict[int, MOTScores] | None = None
    has_classes: bool = False  # automatic classes: the predictions name classes
    classes: tuple[int, ...] = ()  # automatic classes: those in this sequence (both sides, -1 left out)
    num_frames: int = 0
    class_error: MOTDataError | None = None
    class_scores: dict[int, MOTScores] | None = None


@dataclass
class _SequenceResult:
    """One sequence: what reading its ground truth warned or raised, then each tracker's result (in order)."""

    name: str
    warnings: list[_Caught] = field(default_factory=list)
    error: MOTDataError | None = None
    trackers: list[_TrackerResult] = field(default_factory=list)


@contextmanager
def _capture(into: list[_Caught]) -> Iterator[None]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    into.extend((w.category, str(w.message)) for w in caught)


def _scores(seq: MOTSequence, origins: tuple[RowOrigin, RowOrigin], opts: _Options, classes: list[int] | None):
    prepared = prepare_sequence(seq, benchmark=opts.benchmark, classes=classes, origins=origins)  # type: ignore[arg-type]
    return {
        c: evaluate_prepared(data, iou_threshold=opts.iou_threshold, metrics=opts.metrics)  # type: ignore[arg-type]
        for c, data in prepared.items()
    }


def _own_classes(seq: MOTSequence) -> tuple[int, ...]:
    found: set[int] = set()
    for frames in (seq.gt, seq.pred):
        if frames.classes is not None:
            found.update(np.unique(frames.classes).tolist())
    found.discard(-1)
    return tuple(sorted(found))


def _score_found_classes(tr: _TrackerResult, seq: MOTSequence, origins: tuple[RowOrigin, RowOrigin], opts: _Options):
    """Automatic classes: the sequence as one class (if its predictions name none) and per class of its own."""
    tr.has_classes = seq.pred.classes is not None and bool((seq.pred.classes >= 0).any())
    tr.classes = _own_classes(seq)
    tr.num_frames = seq.num_frames
    if not tr.has_classes:
        try:
            tr.scores = _scores(seq, origins, opts, None)
        except MOTDataError as exc:
            tr.error = exc
    try:
        tr.class_scores = _scores(seq, origins, opts, list(tr.classes))
    except MOTDataError as exc:
        tr.class_error = exc


def _read_prediction(pred_dir: Path, name: str, results: Mapping[str, str]) -> tuple[Frames, RowOrigin]:
    if name in results:
        return read_mot_file(results[name])
    warnings.warn(missing_result_warning(pred_dir, name), MOTDataWarning, stacklevel=2)
    return Frames.empty(), RowOrigin(str(pred_dir / f"{name}.txt"))


_SHARED_READER: list[GroundTruthReader] = []
"""This process's ground-truth reader for single-sequence tasks (its last parse stays for the next task)."""


def _run_task(task: _Task, shared: bool = False) -> list[_SequenceResult]:
    """Evaluate a task's sequences; stops at the first error after which nothing of the task can matter.

    ``shared``: read the ground truth with this process's :data:`_SHARED_READER` (else with a reader of its own).
    """
    opts = task.options
    gt_dir = Path(task.gt_dir)
    if shared and not _SHARED_READER:
        _SHARED_READER.append(GroundTruthReader())
    reader = _SHARED_READER[0] if shared else GroundTruthReader()
    out: list[_SequenceResult] = []
    for name in task.names:
        result = _SequenceResult(name)
        out.append(result)
        with _capture(result.warnings):
            try:
                gt, gt_origin = reader.read(gt_dir / name / "gt" / "gt.txt")
            except MOTDataError as exc:
                result.error = exc
        if result.error is not None:
            return out
        for pred_dir, results in task.trackers:
            tr = _TrackerResult()
            result.trackers.append(tr)
            with _capture(tr.warnings):
                try:
                    pred, pred_origin = _read_prediction(Path(pred_dir), name, results)
                    seq = MOTSequence(name, gt, pred, sequence_length(gt_dir / name, gt, pred))
                except MOTDataError as exc:
                    tr.read_error = exc
            if tr.read_error is not None:
                return out
            origins = (gt_origin, pred_origin)
            if opts.auto_classes:
                _score_found_classes(tr, seq, origins, opts)
                continue
            try:
                tr.scores = _scores(seq, origins, opts, None if opts.classes is None else list(opts.classes))
            except MOTDataError as exc:
                tr.error = exc
                return out
    return out


def _tasks(plans: list[FolderPlan], names: list[str], opts: _Options, jobs: int) -> list[_Task]:
    """The tasks, in the order :func:`_run` wants them.

    With one job, one task per group of sequences with the same ground-truth size (in order of their first
    sequence); with more, one per sequence, the sequences of a group next to each other, the largest group first.
    """
    gt_dir = plans[0].gt_dir

    def size(path: Path) -> int:
        try:
            return path.stat().st_size
        except OSError:
            return -1

    by_size: dict[object, list[str]] = {}
    for name in names:
        key = size(gt_dir / name / "gt" / "gt.txt")
        by_size.setdefault(key if key > 0 else ("unknown", name), []).append(name)
    groups = list(by_size.values())

    def cost(group: list[str]) -> int:
        # Bytes to evaluate: each tracker's result file and the ground truth once per tracker (the work grows with
        # both sides; parsing the shared ground truth once is small next to that).
        total = 0
        for name in group:
            total += len(plans) * max(0, size(gt_dir / name / "gt" / "gt.txt"))
            total += sum(max(0, size(p.results[name])) for p in plans if name in p.results)
        return total

    if jobs > 1:
        groups = [[name] for group in sorted(groups, key=lambda g: -cost(g)) for name in group]
    tasks = []
    for group in groups:
        trackers = tuple((str(p.pred_dir), {n: str(p.results[n]) for n in group if n in p.results}) for p in plans)
        tasks.append(_Task(str(gt_dir), tuple(group), trackers, opts, cost(group), names.index(group[0])))
    return tasks


def _stopped(results: list[_SequenceResult], auto_classes: bool) -> str | None:
    """The sequence a task stopped at (an error after which none of its later sequences can matter), if any."""
    if not results:
        return None
    last = results[-1]
    if last.error is not None or any(t.read_error is not None for t in last.trackers):
        return last.name
    if not auto_classes and any(t.error is not None for t in last.trackers):
        return last.name
    return None


def _run(tasks: list[_Task], jobs: int, start_method: str | None, order: list[str]) -> list[list[_SequenceResult]]:
    if jobs <= 1 or len(tasks) <= 1:
        position = {name: i for i, name in enumerate(order)}
        out: list[list[_SequenceResult]] = []
        failed_at = len(order)  # position of the first sequence known to fail
        for task in sorted(tasks, key=lambda t: t.first):
            if task.first > failed_at:
                continue  # all its sequences come after a failure: none can change what is raised
            out.append(_run_task(task))
            stop = _stopped(out[-1], task.options.auto_classes)
            if stop is not None:
                failed_at = min(failed_at, position[stop])
        return out
    import multiprocessing
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    # This process is one of the ``jobs``. Tasks are single sequences, those with the same ground truth next to each
    # other, the largest groups first: the workers take them from the front (one in flight each, handed over
    # whenever this process finishes one of its own), this process from the back. Each process keeps the last
    # ground truth it parsed (_SHARED_READER), so a group is parsed again only where two processes meet in it.
    workers = min(jobs, len(tasks)) - 1
    pending = deque(tasks)  # by decreasing cost
    gc.freeze()  # forked workers: the collector leaves inherited objects alone, so their pages stay shared
    futures: list = []
    method = start_method or ("fork" if sys.platform.startswith("linux") else None)
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method)) as pool:

        def feed() -> None:
            while pending and sum(not f.done() for f in futures) < workers:
                futures.append(pool.submit(_run_task, pending.popleft(), True))

        feed()
        here = []
        try:
            while pending:
                here.append(_run_task(pending.pop(), shared=True))
                feed()
        finally:
            _SHARED_READER.clear()
            gc.unfreeze()
        return here + [f.result() for f in futures]


def _empty_scores(num_frames: int, opts: _Options) -> MOTScores:
    """The scores of a class absent from a sequence (what ``prepare_sequence`` + ``evaluate_prepared`` give)."""
    none = np.zeros(0, np.int64)
    data = PreparedSequence(num_frames, none, none, none, none, 0, 0, none, none, np.zeros(0))
    return evaluate_prepared(data, iou_threshold=opts.iou_threshold, metrics=opts.metrics)  # type: ignore[arg-type]


def _replay(caught: Iterable[_Caught]) -> None:
    for category, message in caught:
        warnings.warn(message, category, stacklevel=4)


def _duplicate(name: str) -> MOTDataError:
    return MOTDataError(f"sequence {name!r} appears twice; expected unique sequence names")


def _assemble(
    names: list[str], done: dict[str, _SequenceResult], trackers: list[str], opts: _Options
) -> dict[str, MOTEvaluation]:
    """Warnings re-issued and errors raised in one-process order; per tracker, the sequences combined in order."""
    unique = list(dict.fromkeys(names))
    scores: list[dict[str, dict[int, MOTScores]]] = [{} for _ in trackers]
    if opts.auto_classes:  # one process reads every file first, then evaluates
        for name in names:
            result = done[name]
            _replay(result.warnings)
            if result.error is not None:
                raise result.error
            for tr in result.trackers:
                _replay(tr.warnings)
                if tr.read_error is not None:
                    raise tr.read_error
        any_classes = [any(done[n].trackers[t].has_classes for n in unique) for t in range(len(trackers))]
        found = [sorted({c for n in unique for c in done[n].trackers[t].classes}) for t in range(len(trackers))]
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise _duplicate(name)
            seen.add(name)
            for t, tr in enumerate(done[name].trackers):
                error = tr.class_error if any_classes[t] else tr.error
                if error is not None:
                    raise error
                if any_classes[t]:
                    own = tr.class_scores or {}
                    scores[t][name] = {c: own[c] if c in own else _empty_scores(tr.num_frames, opts) for c in found[t]}
                else:
                    scores[t][name] = tr.scores or {}
        class_lists = [tuple(found[t]) if any_classes[t] else (PEDESTRIAN,) for t in range(len(trackers))]
    else:
        seen = set()
        for name in names:
            result = done[name]
            _replay(result.warnings)
            if result.error is not None:
                raise result.error
            for tr in result.trackers:
                _replay(tr.warnings)
                if tr.read_error is not None:
                    raise tr.read_error
                if name in seen:
                    raise _duplicate(name)
                if tr.error is not None:
                    raise tr.error
            seen.add(name)
            for t, tr in enumerate(result.trackers):
                scores[t][name] = tr.scores or {}
        fixed = (PEDESTRIAN,) if opts.benchmark != "none" or not opts.classes else opts.classes
        class_lists = [tuple(fixed) for _ in trackers]
    out: dict[str, MOTEvaluation] = {}
    for t, tracker in enumerate(trackers):
        per_class = {c: {n: scores[t][n][c] for n in unique} for c in class_lists[t]}
        out[tracker] = _combine(class_lists[t], per_class, unique)
    return out


def evaluate_benchmark(
    gt_dir: str | Path,
    trackers: Mapping[str, str | Path] | Sequence[str | Path],
    *,
    seqmap: str | Path | None = None,
    names: list[str] | None = None,
    benchmark: Benchmark = "none",
    classes: Iterable[int] | None = None,
    iou_threshold: float = 0.5,
    metrics: Iterable[MetricFamily] = ALL_FAMILIES,
    jobs: int | None = 1,
    start_method: str | None = None,
) -> dict[str, MOTEvaluation]:
    """Evaluate one or more trackers' result folders against a MOTChallenge-layout ground-truth folder.

    Args:
        gt_dir: folder holding one folder per sequence (``<seq>/gt/gt.txt``, ``<seq>/seqinfo.ini``).
        trackers: tracker name -> result folder, or result folders (named after the folder, see
            :func:`tracker_names`); each as :func:`~yololab.metrics.mot.motchallenge.load_benchmark` reads it.
        seqmap: optional seqmap file restricting (and ordering) the sequences.
        names: optional sequence names restricting (and ordering) the sequences.
        benchmark: MOTChallenge preprocessing (``"MOT16"``, ``"MOT17"``, ``"MOT20"``) or ``"none"``.
        classes: class ids for ``"none"``; default: found in the data, as :func:`~yololab.metrics.mot.evaluate_mot`.
        iou_threshold: IoU a CLEAR / Identity match needs.
        metrics: families to compute.
        jobs: worker processes; 1 evaluates in this process; None: :func:`usable_cores`. Never more than there are
            tasks (groups of sequences).
        start_method: multiprocessing start method for the workers (default: ``fork`` on Linux, else the
            platform's default).

    Returns:
        Tracker name -> its evaluation, in the given order; equal, bit for bit, for every ``jobs``.

    Raises:
        MOTDataError: as ``load_benchmark`` + ``evaluate_mot`` (the first error a one-process run meets).

    Warns:
        MOTDataWarning: as ``load_benchmark``; each ground-truth warning once, each tracker's for that tracker.
    """
    named = dict(trackers) if isinstance(trackers, Mapping) else tracker_names(trackers)
    if not named:
        raise MOTDataError("no tracker result folders given; expected at least one")
    plans = [plan_benchmark(gt_dir, path, seqmap=seqmap, names=names) for path in named.values()]
    order = plans[0].names
    opts = _Options(benchmark, None if classes is None else tuple(classes), float(iou_threshold), tuple(metrics))
    workers = usable_cores() if jobs is None else max(1, int(jobs))
    tasks = _tasks(plans, list(dict.fromkeys(order)), opts, workers)
    done = {r.name: r for results in _run(tasks, workers, start_method, order) for r in results}
    return _assemble(order, done, list(named), opts)

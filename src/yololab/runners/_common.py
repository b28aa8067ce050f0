"""Plumbing every runner shares: data preparation, the MLflow recorder, tags, model statistics, progress."""

from __future__ import annotations

import contextlib
import importlib
import logging
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from yololab.adapters.mlflow_params import config_to_params, redacted_config
from yololab.adapters.mlflow_recorder import ExperimentRecorder
from yololab.classmap import check_detection_classes
from yololab.config import BenchExperiment, ExperimentConfig, InferExperiment, QuantExperiment
from yololab.data.yolo_dataset import YoloDataset, read_data_yaml
from yololab.metrics.per_class import PerClassTable
from yololab.metrics.results import TrainingMetricsSnapshot
from yololab.metrics.system import SystemMetrics
from yololab.tables import rows_to_csv

console = Console(stderr=True)


@dataclass(frozen=True)
class PreparedData:
    """Where an experiment's data lives once generated or located.

    The parsed ``data.yaml`` (read once, then shared by every step) and the tracking sequences.
    """

    dataset: YoloDataset
    mot_dir: Path | None

    @property
    def data_yaml(self) -> Path:
        """The dataset file (absolute)."""
        return self.dataset.yaml_path

    @property
    def class_names(self) -> list[str]:
        """The dataset's class names, index = class id."""
        return self.dataset.names


def prepare_data(config: ExperimentConfig, *, quiet: bool = False) -> PreparedData:
    """Generate the synthetic world (reused when already generated with the same settings) or use the given data."""
    from yololab.data.synthetic import ensure_world

    data = config.data
    if data.yaml is not None:
        dataset = read_data_yaml(data.yaml)
        dataset.images("val")  # a dataset whose val folder is missing or empty fails here, with the file named
        mot_dir = Path(data.mot_dir).expanduser().resolve() if data.mot_dir else None
        if mot_dir is not None and not mot_dir.is_dir():
            raise FileNotFoundError(f"data.mot_dir {mot_dir}: not a folder")
        return PreparedData(dataset, mot_dir)
    if not quiet:
        console.print(f"[bold]data[/] synthetic world in {data.root}")
    world = ensure_world(Path(data.root), data.synthetic)
    return PreparedData(read_data_yaml(world.data_yaml), world.mot_dir)


def open_recorder(config: ExperimentConfig, *, run_name_default: str) -> ExperimentRecorder:
    """An :class:`ExperimentRecorder` for ``config``, with the resolved config logged as (redacted) params.

    ``tracking.offline`` (``--offline``; or ``YOLOLAB_OFFLINE=1``) records the run in the journal only.

    Raises:
        TrackingAuthError: the tracking server refused the credentials or the permission (nothing has run yet).
    """
    recorder = ExperimentRecorder(
        experiment_name=config.experiment,
        experiment_type=config.kind,
        run_name=config.run_name or run_name_default,
        tracking_uri=config.tracking.uri,
        journal_dir=config.tracking.journal_dir,
        tags=dict(config.tags),
        offline=config.tracking.offline or None,
    )
    recorder.log_params(config_to_params(config))
    recorder.log_dict(redacted_config(config), "config.yaml")  # the resolved config, rerunnable, secrets redacted
    return recorder


LINEAGE_FILE = "yololab_run.json"
"""Written beside the weights a training run produced: which run made them (read by infer, quant and bench)."""


def write_lineage(weights_dir: Path, recorder: ExperimentRecorder) -> None:
    """Leave the training run's identity beside its weights (``weights/yololab_run.json``)."""
    import json

    if weights_dir.is_dir():
        record = {"run_id": recorder.run_id, "run_key": recorder.run_key, "experiment": recorder.experiment_name}
        (weights_dir / LINEAGE_FILE).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


def lineage_tags(weights: Path) -> dict[str, str]:
    """``yololab.source_run_id`` / ``yololab.source_run_journal``: the training run that made ``weights``, if known.

    (The journal name is the run's key in the local journal, for a run created while the server was down.)
    """
    import json

    path = (weights if weights.is_dir() else weights.parent) / LINEAGE_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    names = {"run_id": "yololab.source_run_id", "run_key": "yololab.source_run_journal"}  # "key" would be redacted
    return {tag: str(record[k]) for k, tag in names.items() if record.get(k)}


def describe_run(recorder: ExperimentRecorder, text: str) -> None:
    """The run's description in MLflow's UI (``mlflow.note.content``): the headline numbers, in words."""
    recorder.set_tags({"mlflow.note.content": text[:4000]})


def check_model(
    recorder: ExperimentRecorder,
    config: InferExperiment | QuantExperiment | BenchExperiment,
    weights: Path,
    data: PreparedData,
) -> tuple[Any, Any]:
    """Load the model and refuse what cannot be measured on ``data``.

    Refused: another task, another fixed input size, a failing forward pass, classes that are not the dataset's.
    Tags ``yololab.model.*`` and ``yololab.class_check``.

    Returns:
        The loaded ``YOLO`` (run once) and its :class:`~yololab.adapters.ultralytics_model.ModelInfo`.

    Raises:
        ModelCheckError, ClassMapError: the model cannot be measured here; the message says why.
    """
    from yololab.adapters.ultralytics_model import ModelCheckError, inspect_model

    model, info = inspect_model(weights, imgsz=config.imgsz, device=config.device)
    recorder.set_tags({**info.tags(), **lineage_tags(weights)})
    if info.names is None and info.num_classes not in (None, len(data.class_names)):
        raise ModelCheckError(
            f"{weights}: predicts {info.num_classes} classes and carries no class names, but the dataset "
            f"{data.data_yaml} has {len(data.class_names)}; nothing pairs them"
        )
    verdict = check_detection_classes(info.names, data.class_names, allow_mismatch=config.allow_class_mismatch)
    recorder.set_tags({"yololab.class_check": verdict[:4000]})
    return model, info


def resolve_weights(model: str) -> Path:
    """The weights an inference experiment measures: a local file or export folder, never a download."""
    path = Path(model)
    if path.suffix in {".yaml", ".yml"}:
        raise ValueError(
            f"model: {model!r} is an architecture YAML (untrained); an inference benchmark needs trained weights "
            "(a .pt, an .onnx or an exported model folder) — train one first with 'yololab train'"
        )
    if not path.exists():
        raise FileNotFoundError(f"model: {model!r} does not exist (expected a local .pt, .onnx or export folder)")
    return path.resolve()


def claim_output_dir(parent: Path, name: str, run_key: str) -> tuple[Path, Any]:
    """The output folder of one run, never one that another run wrote into: ``parent/name`` or ``name-<run_key>``.

    ``parent/name`` when it does not exist yet or holds nothing but a lock file; otherwise (an earlier run's
    output, or a running experiment's) a folder of this run's own, ``parent/name-<run_key>`` (the run key starts
    with the start time, so the folders sort by age). Each folder holds a lock file (``.yololab-run.lock``) while a
    run writes into it, so two experiments started together in one directory never share a folder either.

    Returns:
        The folder and its held lock (``.release()`` it when the run is done; a crash releases it too).
    """
    from filelock import FileLock, Timeout

    usual = parent / name
    for candidate in (usual, parent / f"{name}-{run_key}"):
        if candidate == usual and _holds_output(candidate):
            continue
        candidate.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(candidate / LOCK_NAME), thread_local=False)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            logging.getLogger(__name__).warning(
                "output folder %s is in use by another running experiment; this run writes to %s",
                candidate, parent / f"{name}-{run_key}",
            )  # fmt: skip
            continue
        return candidate, lock
    raise RuntimeError(f"{parent / name}-{run_key}: locked although the name is unique")  # pragma: no cover


LOCK_NAME = ".yololab-run.lock"
"""The lock file a run holds in its output folder while it writes there."""


def _holds_output(folder: Path) -> bool:
    """Whether ``folder`` holds anything an earlier run wrote (anything but a lock file)."""
    return folder.is_dir() and any(p.name != LOCK_NAME for p in folder.iterdir())


class MeasuringRunner:
    """The skeleton the experiments that measure a trained model share (``infer``, ``quant``).

    Ultralytics offline, the weights resolved (never downloaded), the data prepared, then one MLflow run in which
    the subclass's ``_run_with(recorder, weights, data)`` does the work; the run ends FAILED (with the reason as a
    tag) if it raises.
    """

    kind: str = ""

    def __init__(self, config: InferExperiment | QuantExperiment | BenchExperiment, *, quiet: bool = False) -> None:
        if config.kind != self.kind:
            raise ValueError(f"{type(self).__name__} needs a config of kind {self.kind!r}, got kind={config.kind!r}")
        self.config = config
        self.quiet = quiet
        self.out_dir = Path(config.output_dir).resolve() / self.kind  # the run's own folder, claimed in _run

    def _say(self, text: str) -> None:
        if not self.quiet:
            console.print(text)

    def _run(self, run_name_default: str) -> Any:
        """Open the run first (a refused credential stops before any work), then resolve, prepare and measure."""
        from yololab.adapters.ultralytics_env import prepare_ultralytics_offline, ultralytics_log_level

        prepare_ultralytics_offline()
        with open_recorder(self.config, run_name_default=run_name_default) as recorder, ultralytics_log_level():
            weights = resolve_weights(self.config.model)  # missing weights: a FAILED run with the reason
            data = prepare_data(self.config, quiet=self.quiet)
            log_datasets(recorder, data, self._datasets())
            self.out_dir, lock = claim_output_dir(Path(self.config.output_dir).resolve(), self.kind, recorder.run_key)
            recorder.set_tags({"yololab.output_dir": str(self.out_dir)})
            try:
                return self._run_with(recorder, weights, data)
            finally:
                lock.release()

    def _datasets(self) -> dict[str, str]:
        """The splits this experiment uses and how (see :func:`log_datasets`): the val split, for evaluation."""
        return {"val": "evaluation"}

    def _run_with(self, recorder: ExperimentRecorder, weights: Path, data: PreparedData) -> Any:
        raise NotImplementedError


def log_datasets(recorder: ExperimentRecorder, data: PreparedData, contexts: Mapping[str, str]) -> None:
    """Record the dataset splits the run used as MLflow run inputs, one per split and context.

    Args:
        recorder: the run.
        data: the prepared data.
        contexts: split -> how the run used it, e.g. ``{"train": "training", "val": "validation"}``;
            ``"mot"`` names the tracking sequences (``data.mot_dir``), logged when there are any.
    """
    folder = data.dataset.yaml_path.parent.name or "dataset"
    for split, context in contexts.items():
        if split == "mot":
            if data.mot_dir is not None:
                from yololab.data.sequences import discover_sequences, sequences_digest

                with warnings.catch_warnings():  # the tracking step warns about these folders itself
                    warnings.simplefilter("ignore")
                    sources = discover_sequences(data.mot_dir)
                recorder.log_input(name=f"{data.mot_dir.name}/sequences", digest=sequences_digest(sources),
                                   source=str(data.mot_dir), context=context,
                                   profile={"sequences": len(sources)})  # fmt: skip
            continue
        images = data.dataset.images(split)
        recorder.log_input(name=f"{folder}/{split}", digest=data.dataset.digest(split), source=str(data.data_yaml),
                           context=context, profile={"split": split, "images": len(images),
                                                     "classes": len(data.class_names)})  # fmt: skip


def log_per_class(recorder: ExperimentRecorder, table: PerClassTable) -> None:
    """The validator's per-class table as the run's ``tables/per_class.csv`` (``all`` first, ``yolo val``'s columns)."""
    recorder.log_text(rows_to_csv(table.as_rows()), "tables/per_class.csv")


def import_in_background(*modules: str) -> threading.Thread:
    """Import ``modules`` in a daemon thread, off the critical path, while the caller does native-heavy work.

    For modules needed only at the end of a run (matplotlib for the plots: about 0.4 s): started while an export or
    a training runs mostly outside the interpreter, the import costs the run's wall time next to nothing. Never
    start it around a timed section: it competes for the interpreter. An import that fails here fails again, with
    its traceback, where the module is really used.
    """

    def run() -> None:
        for name in modules:
            with contextlib.suppress(Exception):
                importlib.import_module(name)

    thread = threading.Thread(target=run, name="yololab-preload", daemon=True)
    thread.start()
    return thread


def unavailable_tags(reasons: dict[str, str]) -> dict[str, str]:
    """``yololab.unavailable.<field>: why`` tags for every metric that could not be measured."""
    return {f"yololab.unavailable.{name}": why[:4000] for name, why in reasons.items()}


def model_stats_metrics(weights: Any, imgsz: int) -> tuple[SystemMetrics, dict[str, str]]:
    """``model_size_mb``, ``model_params_m``, ``model_flops_g`` of ``weights`` and why any of them is absent."""
    from yololab.adapters.model_stats import get_model_stats

    stats = get_model_stats(weights, imgsz)
    system = SystemMetrics(model_size_mb=stats.size_mb, model_params_m=stats.params_m, model_flops_g=stats.flops_g)
    reasons = {
        f"sys.model_{k.removesuffix('_m').removesuffix('_g').removesuffix('_mb')}": v
        for k, v in stats.unavailable_reasons.items()
    }
    return system, reasons


def log_model_stats(
    recorder: ExperimentRecorder, weights: Any, imgsz: int, *, step: int | None = None
) -> SystemMetrics:
    """Log the model statistics as ``sys.*`` metrics and ``model.*`` params, reasons as tags; return them."""
    system, reasons = model_stats_metrics(weights, imgsz)
    recorder.log_metrics(system.to_mlflow_dict("sys"), step=step)
    recorder.log_params({f"model.{k}": v for k, v in system.to_mlflow_dict("stats").items()})
    recorder.set_tags(unavailable_tags(reasons))
    return system


class EpochProgress:
    """Training progress: on a terminal a live batch bar with ETAs and one kept line per epoch; else plain lines.

    On a terminal the bar (``epoch 3/30 ━━━━ 12/34 0:00:04 eta 0:00:07 all 0:02:41``) follows the batches of the
    epoch under way and disappears at the end; above it each finished epoch leaves one line (``epoch 3/30  mAP50
    ...``). In a log file or a pipe only those lines are written, plain (one per epoch, nothing per batch).
    """

    def __init__(self, *, quiet: bool = False, out: Console | None = None) -> None:
        """Progress on ``out`` (default: the shared stderr console); ``quiet``: none at all."""
        self.quiet = quiet
        self.console = out if out is not None else console
        self.live = self.console.is_terminal and not quiet
        self._progress: Progress | None = None
        self._task: Any = None
        self.total = 0
        self._epoch_times: list[float] = []

    def start(self, *, total: int) -> None:
        """Training of ``total`` epochs begins (the live bar starts on a terminal)."""
        self.total = total
        if self.live and self._progress is None:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                _TrainingRemainingColumn(self),
                console=self.console,
                transient=True,
                refresh_per_second=4,
            )
            self._progress.start()
            self._task = self._progress.add_task(f"epoch 1/{total}", total=None)

    def start_epoch(self, epoch: int, batches: int) -> None:
        """Epoch ``epoch`` (1-based) of ``batches`` batches begins: the bar restarts at 0."""
        if self._progress is not None:
            self._progress.reset(self._task, total=batches, description=f"epoch {epoch}/{self.total}")

    def batch_done(self) -> None:
        """One more batch of the epoch under way (cheap: called on the training thread)."""
        if self._progress is not None:
            self._progress.advance(self._task)

    def validating(self) -> None:
        """The epoch's batches are done; Ultralytics validates."""
        if self._progress is not None:
            task = self._progress.tasks[0]
            self._progress.update(self._task, description=f"{task.description} val")

    def remaining_s(self, task: Any) -> float | None:
        """Seconds left in the whole training: the epoch under way, then the epochs after it at their mean time."""
        done = len(self._epoch_times)
        per_epoch = sum(self._epoch_times) / done if done else None
        if per_epoch is None and task.total and task.completed and task.elapsed:
            per_epoch = task.elapsed * task.total / task.completed
        if per_epoch is None:
            return None
        current = task.time_remaining if task.time_remaining is not None else 0.0
        return current + per_epoch * max(self.total - done - 1, 0)

    def advance(self, snap: TrainingMetricsSnapshot) -> None:
        """Epoch ``snap.epoch`` finished: one kept line with its headline numbers."""
        if snap.system.epoch_time_s is not None:
            self._epoch_times.append(snap.system.epoch_time_s)
        text = epoch_line(snap, self.total)
        if self._progress is not None:
            self._progress.console.print(text, highlight=False, markup=False, soft_wrap=True)
        elif not self.quiet:
            print(text, file=sys.stderr, flush=True)

    def stop(self) -> None:
        """Training ended: the live bar goes away (the epoch lines stay)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class _TrainingRemainingColumn(ProgressColumn):
    """``all 0:02:41``: what is left of the whole training (:meth:`EpochProgress.remaining_s`)."""

    def __init__(self, progress: EpochProgress) -> None:
        super().__init__()
        self.epochs = progress

    def render(self, task: Task) -> Text:
        """The column's text for ``task``."""
        left = self.epochs.remaining_s(task)
        return Text(f"all {_clock(left)}", style="progress.remaining", no_wrap=True)


def _clock(seconds: float | None) -> str:
    """``H:MM:SS`` (hours past 24 stay hours), ``-:--:--`` when unknown.

    Example:
        >>> _clock(3725.6), _clock(90000), _clock(None)
        ('1:02:05', '25:00:00', '-:--:--')
    """
    if seconds is None:
        return "-:--:--"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def epoch_line(snap: TrainingMetricsSnapshot, total: int) -> str:
    """The line a finished epoch leaves (about 65 characters: fits 80 columns).

    Example:
        >>> from yololab.metrics.detection import DetectionMetrics
        >>> from yololab.metrics.system import SystemMetrics
        >>> det = DetectionMetrics(mAP50=0.5, mAP50_95=0.25, box_loss=1.5)
        >>> epoch_line(TrainingMetricsSnapshot(3, det, SystemMetrics(epoch_time_s=6.42)), 30)
        'epoch 3/30  mAP50 0.500  mAP50-95 0.250  box_loss 1.500  6.4 s'
    """
    det, sys_ = snap.detection, snap.system
    return (
        f"epoch {snap.epoch}/{total}  mAP50 {_fmt(det.mAP50)}  mAP50-95 {_fmt(det.mAP50_95)}  "
        f"box_loss {_fmt(det.box_loss)}  {_fmt(sys_.epoch_time_s, 1)} s"
    )


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


@contextlib.contextmanager
def step_progress(label: str, total: int, *, quiet: bool = False) -> Iterator[Callable[[], None]]:
    """Progress over ``total`` steps: a live bar on a terminal, a line every 10 % in a log file (or when piped).

    Yields the function to call after each step.
    """
    if quiet or total <= 0:
        yield lambda: None
        return
    if console.is_terminal:
        with Progress(
            TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        ) as progress:
            task = progress.add_task("", total=total)
            yield lambda: progress.advance(task)
        return
    done = 0
    marks = {max(1, round(total * k / 10)) for k in range(1, 11)}

    def advance() -> None:
        nonlocal done
        done += 1
        if done in marks:
            print(f"{label}: {done}/{total}", file=sys.stderr, flush=True)

    yield advance

"""TrainingRunner: Ultralytics training, one ``TrainingMetricsSnapshot`` logged per epoch (``step = epoch``).

Steps are 1-based epochs (``step = 1`` after the first epoch), as in Ultralytics' ``results.csv``. Per-epoch
``det.*`` are Ultralytics' validation during training; ``train.lr.pg*`` the learning rates. The final evaluation of
``best.pt`` is yololab's validator (the one ``infer`` and ``quant`` use, ``rect=False``), logged at its own step,
``N + 1`` after ``N`` epochs (where Ultralytics logs its own final validation), so it is each ``det.*`` key's latest
value (what MLflow shows in run tables and comparisons) and every history has one value per step; per-class AP
(``det.ap.*``, ``det.ap50.*``) and model statistics exist only there. Ultralytics' own final validation of
``best.pt`` is skipped (its numbers, ``rect=True``, are not yololab's).

Multi-GPU (``device: 0,1,...``): Ultralytics' DDP workers load pickled callbacks; :class:`_EpochLogger` pickles as
plain data, rank 0 journals each epoch and the launching process follows the journal (docs/recorder.md).
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yololab.adapters.mlflow_recorder import ExperimentRecorder, JournalRunWriter, RunHandle
from yololab.adapters.system_collector import SystemMetricsCollector
from yololab.config import TrainExperiment
from yololab.devices import parse_cuda_indices
from yololab.metrics.per_class import PerClassTable
from yololab.metrics.results import TrainingMetricsSnapshot
from yololab.metrics.system import SystemMetrics
from yololab.runners._common import (
    EpochProgress,
    PreparedData,
    claim_output_dir,
    describe_run,
    import_in_background,
    log_datasets,
    log_model_stats,
    log_per_class,
    open_recorder,
    prepare_data,
    unavailable_tags,
    write_lineage,
)
from yololab.tables import rows_to_csv


@dataclass
class TrainingResult:
    """What a training run produced."""

    run_id: str
    save_dir: Path
    best_weights: Path | None
    last_weights: Path | None
    final: TrainingMetricsSnapshot | None
    history: list[TrainingMetricsSnapshot] = field(default_factory=list)
    per_class: PerClassTable | None = None
    """The per-class table of the final evaluation of ``best.pt`` (``yolo val``'s, ``all`` first)."""


class _EpochLogger:
    """Ultralytics callbacks that turn each epoch end into a logged :class:`TrainingMetricsSnapshot`.

    DDP-safe. With ``device: 0,1,...`` Ultralytics cloudpickles the trainer's callbacks into a state file that
    every DDP worker loads (``ultralytics.utils.dist.generate_ddp_file``), so what is pickled is plain data only:
    the run's :class:`~yololab.adapters.mlflow_recorder.RunHandle` (journal path, run key, experiment, tracking URI
    without credentials), the device spec and the class keys. The live recorder, collector and progress display
    are attached in the launching process only and never pickled (``__getstate__``).

    Where it logs: in the process holding the live recorder (single-device training), through the recorder; in a
    DDP worker of rank 0 (``RANK`` environment variable, what Ultralytics reads), by appending to the run's
    journal (:class:`~yololab.adapters.mlflow_recorder.JournalRunWriter`), which the launching process follows
    and uploads; in every other rank, nowhere. Rank 0 also samples the telemetry of every GPU of the training
    (one collector over the whole device spec, NVML found by UUID).
    """

    _TRANSIENT = ("recorder", "collector", "progress", "on_snapshot", "history", "_writer", "_own_collector")

    def __init__(
        self,
        recorder: ExperimentRecorder | None,
        collector: SystemMetricsCollector | None,
        progress: EpochProgress | None,
        on_snapshot: Callable[[TrainingMetricsSnapshot], None] | None = None,
        *,
        run: RunHandle | None = None,
        device: str = "cpu",
        interval_s: float = 0.5,
    ) -> None:
        self.recorder = recorder
        self.collector = collector
        self.progress = progress
        self.on_snapshot = on_snapshot
        self.run = run if run is not None else (recorder.handle if recorder is not None else None)
        self.device = str(device)
        self.interval_s = interval_s
        self.history: list[TrainingMetricsSnapshot] = []
        self.class_keys: dict[str, str] = {}
        self._epoch_start = time.perf_counter()
        self._writer: JournalRunWriter | None = None
        self._own_collector = False

    def __getstate__(self) -> dict[str, Any]:
        """Plain data only: what a DDP worker needs (the live recorder, threads and locks stay here)."""
        state = dict(self.__dict__)
        for name in self._TRANSIENT:
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.recorder = self.collector = self.progress = self.on_snapshot = None
        self.history, self._writer, self._own_collector = [], None, False

    def attach(self, model: Any) -> None:
        model.add_callback("on_pretrain_routine_end", self._on_pretrain_end)
        model.add_callback("on_train_epoch_start", self._on_epoch_start)
        model.add_callback("on_train_batch_end", self._on_batch_end)
        model.add_callback("on_train_epoch_end", self._on_train_epoch_end)
        model.add_callback("on_fit_epoch_end", self._on_fit_epoch_end)
        model.add_callback("teardown", self._on_teardown)

    @property
    def logs_here(self) -> bool:
        """Whether this process logs: the one holding the recorder, else DDP rank 0 (or no DDP at all)."""
        return self.recorder is not None or _rank() in (-1, 0)

    def _on_pretrain_end(self, trainer: Any) -> None:
        trainer.final_eval = functools.partial(_strip_checkpoints, trainer)  # every rank: no second validation
        if not self.logs_here:
            return
        names = [str(trainer.data["names"][i]) for i in sorted(trainer.data["names"])]
        from yololab.metrics.keys import class_key_map

        self.class_keys = class_key_map(names)
        if self.recorder is None:  # a DDP worker: log through the journal, sample every GPU of the training
            from yololab.adapters.mlflow_recorder import JournalRunWriter

            assert self.run is not None, "a DDP worker needs the run's handle"
            self._writer = JournalRunWriter(self.run)
            if self.collector is None:
                self.collector = SystemMetricsCollector(device=self.device, interval_s=self.interval_s).start()
                self._own_collector = True
        if self.progress is not None:
            self.progress.start(total=int(trainer.epochs))

    def _on_epoch_start(self, trainer: Any) -> None:
        self._epoch_start = time.perf_counter()
        if self.collector is not None:
            self.collector.reset()
        if self.recorder is not None and self.progress is not None:
            self.progress.start_epoch(int(trainer.epoch) + 1, len(trainer.train_loader))

    def _on_batch_end(self, trainer: Any) -> None:
        """One batch trained: the live bar advances (the training thread; nothing in a DDP worker)."""
        if self.recorder is not None and self.progress is not None:
            self.progress.batch_done()

    def _on_train_epoch_end(self, trainer: Any) -> None:
        """The epoch's batches are done; Ultralytics validates next (the bar says so)."""
        if self.recorder is not None and self.progress is not None:
            self.progress.validating()

    def _on_fit_epoch_end(self, trainer: Any) -> None:
        if not self.logs_here:  # DDP rank > 0
            return
        from yololab.adapters.ultralytics_detection import (
            detection_from_det_metrics,
            trainer_learning_rates,
            trainer_losses,
            with_losses,
        )

        detection = detection_from_det_metrics(trainer.validator.metrics, per_class=False)
        detection = with_losses(detection, *trainer_losses(trainer))
        system = self.collector.to_system_metrics() if self.collector is not None else SystemMetrics()
        system.epoch_time_s = time.perf_counter() - self._epoch_start
        snapshot = TrainingMetricsSnapshot(
            epoch=int(trainer.epoch) + 1,
            detection=detection,
            system=system,
            learning_rates=trainer_learning_rates(trainer),
        )
        self.history.append(snapshot)
        if self.progress is not None:
            self.progress.advance(snapshot)
        sink: Any = self.recorder if self.recorder is not None else self._writer
        sink.log_metrics(snapshot.to_mlflow_dict(self.class_keys), step=snapshot.epoch)
        if self.on_snapshot is not None:
            self.on_snapshot(snapshot)

    def _on_teardown(self, trainer: Any) -> None:
        """In a DDP worker: stop the collector, journal why any telemetry was unavailable, close the journal."""
        if self._writer is None:
            return
        if self._own_collector and self.collector is not None:
            self.collector.stop()
            self._writer.set_tags(unavailable_tags(self.collector.unavailable_reasons))
        self._writer.close()


def _strip_checkpoints(trainer: Any) -> None:
    """Ultralytics' ``final_eval`` without its validation of ``best.pt``: only the checkpoints are finalised.

    As ``BaseTrainer.final_eval`` does: ``last.pt`` and ``best.pt`` lose their optimizer state and ``best.pt`` gets
    ``last.pt``'s ``train_results``, on rank 0 while the other ranks wait. The validation of ``best.pt`` that
    follows there is skipped: yololab evaluates ``best.pt`` once, after training, with its own validator
    (``rect=False``, the numbers ``infer`` reports; Ultralytics validates ``rect=True`` during training, so the two
    differ and cannot replace each other). That saves one full validation (~0.9 s of a 5-epoch CPU training) and
    keeps DDP workers from validating on a device they would pick themselves.
    """
    from ultralytics.utils import LOCAL_RANK
    from ultralytics.utils.torch_utils import strip_optimizer, torch_distributed_zero_first

    with torch_distributed_zero_first(LOCAL_RANK):
        if _rank() in (-1, 0):
            ckpt = strip_optimizer(trainer.last) if trainer.last.exists() else {}
            if trainer.best.exists():
                strip_optimizer(trainer.best, updates={"train_results": (ckpt or {}).get("train_results")})


def final_step(history: list[TrainingMetricsSnapshot]) -> int:
    """The step of the final evaluation of ``best.pt``: one after the last epoch logged (N epochs -> step N + 1).

    Example:
        >>> final_step([TrainingMetricsSnapshot(epoch=1), TrainingMetricsSnapshot(epoch=2)])
        3
    """
    return history[-1].epoch + 1


def single_device(device: str) -> str:
    """The one device a single process uses for ``device``: the first GPU of a DDP spec (``0,1`` -> ``0``).

    Example:
        >>> single_device("0,1,2,3"), single_device("cuda:1"), single_device("cpu")
        ('0', 'cuda:1', 'cpu')
    """
    indices = parse_cuda_indices(device)
    return str(indices[0]) if len(indices) > 1 else device


def _rank() -> int:
    """This process's DDP rank, from ``RANK`` as Ultralytics reads it (-1: no DDP)."""
    try:
        return int(os.environ.get("RANK", "-1"))
    except ValueError:
        return -1


def ddp_world_size(device: str | int | None) -> int:
    """How many DDP processes Ultralytics starts for ``device``: the number of CUDA devices named when more than one.

    ``0,1,2,3`` -> 4 (one worker per GPU; the launching process only waits), ``0`` or ``cpu`` -> 1 (no DDP).

    Example:
        >>> ddp_world_size("0,1,2,3"), ddp_world_size("cuda:0"), ddp_world_size("cpu")
        (4, 1, 1)
    """
    return max(len(parse_cuda_indices(device)), 1)


class TrainingRunner:
    """Train a YOLO model as the config says and record the run in MLflow.

    Example::

        result = TrainingRunner(load_config("configs/train.yaml")).run()
    """

    def __init__(self, config: TrainExperiment, *, quiet: bool = False, verbose: bool = False) -> None:
        """Prepare a training run.

        Args:
            config: a ``kind: train`` config.
            quiet: no progress output at all.
            verbose: also show Ultralytics' own log and progress bars.
        """
        if config.kind != "train":
            raise ValueError(f"TrainingRunner needs a config of kind 'train', got kind={config.kind!r}")
        self.config = config
        self.quiet = quiet
        self.verbose = verbose

    def run(self) -> TrainingResult:
        """Check the inputs, generate/locate the data, train, log every epoch and the final evaluation.

        The run is opened first, so that a tracking server refusing the credentials stops everything before any
        work (:class:`~yololab.adapters.mlflow_recorder.TrackingAuthError`). Then the starting model and the dataset
        are checked before Ultralytics sees them: a missing, empty or unloadable ``.pt``, a model file training
        cannot start from, or a ``data.yaml`` whose folders are missing raises a ``ValueError`` naming the file and
        what was expected (the run ends FAILED with the reason as the tag ``yololab.failure_reason``).
        """
        from yololab.adapters.ultralytics_env import prepare_ultralytics_offline

        prepare_ultralytics_offline()
        with open_recorder(self.config, run_name_default="train") as recorder:
            check_start_model(self.config.model, imgsz=self.config.imgsz, device=single_device(self.config.device))
            data = prepare_data(self.config, quiet=self.quiet)
            data.dataset.images("train")  # the training split must exist and hold images
            log_datasets(recorder, data, {"train": "training", "val": "validation"})
            result = self._run_with(recorder, data)
        result.run_id = recorder.run_id  # the server's id, once the sender has created the run
        return result

    def _run_with(self, recorder: ExperimentRecorder, data: PreparedData) -> TrainingResult:
        from ultralytics import YOLO

        cfg = self.config
        model = YOLO(cfg.model, task="detect")
        world = ddp_world_size(cfg.device)
        # DDP: the workers train and sample the GPUs (rank 0); this process only waits, so it samples nothing
        collector = SystemMetricsCollector(device=cfg.device, interval_s=0.5) if world == 1 else None
        progress = EpochProgress(quiet=self.quiet)
        logger = _EpochLogger(recorder, collector, progress, device=cfg.device)
        logger.attach(model)
        save_dir, folder_lock = claim_output_dir(Path(cfg.output_dir).resolve(), "train", recorder.run_key)
        recorder.set_tags({"yololab.output_dir": str(save_dir), "yololab.ddp_world_size": str(world)})
        from yololab.adapters.ultralytics_env import ultralytics_log_level

        import_in_background("yololab.report.plots")  # drawn at the end; imported while the training runs
        try:
            if collector is not None:
                collector.start()
            try:
                with ultralytics_log_level(logging.WARNING if not self.verbose else logging.INFO):
                    if world == 1:
                        model.train(**self._train_args(data, save_dir))
                    else:
                        self._train_ddp(model, recorder, logger, data, save_dir)
            finally:
                if collector is not None:
                    collector.stop()
                    recorder.set_tags(unavailable_tags(collector.unavailable_reasons))
                progress.stop()
                self._log_artifacts(recorder, save_dir, logger)
            best, last = _weights(save_dir)
            write_lineage(save_dir / "weights", recorder)
            final, per_class = None, None
            if best is not None and logger.history:
                final, per_class = self._log_final(recorder, logger, best, data)
            if final is not None:
                det = final.detection
                describe_run(
                    recorder,
                    f"{cfg.model} trained {len(logger.history)} epochs on {data.data_yaml}: "
                    f"final mAP50 {det.mAP50:.3f}, mAP50-95 {det.mAP50_95:.3f} (best.pt, yololab's validator)",
                )
        finally:
            folder_lock.release()
        return TrainingResult(recorder.run_id, save_dir, best, last, final, logger.history, per_class)

    def _train_ddp(
        self, model: Any, recorder: ExperimentRecorder, logger: _EpochLogger, data: PreparedData, save_dir: Path
    ) -> None:
        """Multi-GPU training: Ultralytics' DDP workers log through the journal; this process follows and uploads it.

        The rank-0 worker appends each epoch to the run's journal; :meth:`ExperimentRecorder.follow_journal` hands
        every new record to this process's sender (so the run gets each epoch once) and rebuilds the history for
        the progress display, the plots and the epoch table.
        """
        names = data.class_names
        from yololab.metrics.keys import class_key_map

        logger.class_keys = class_key_map([str(names[i]) for i in sorted(names)])
        logger.progress.start(total=int(self.config.train.epochs))

        def on_record(record: dict[str, Any]) -> None:
            if record["op"] != "log_metrics" or not record["metrics"]:
                return
            step = int(record["metrics"][0][3])
            values = {key: value for key, value, _ts, _step in record["metrics"]}
            snapshot = TrainingMetricsSnapshot.from_mlflow_dict(values, epoch=step)
            logger.history.append(snapshot)
            logger.progress.advance(snapshot)

        with recorder.follow_journal(on_record):
            model.train(**self._train_args(data, save_dir))

    def _log_final(
        self, recorder: ExperimentRecorder, logger: _EpochLogger, best: Path, data: PreparedData
    ) -> tuple[TrainingMetricsSnapshot, PerClassTable]:
        """Evaluate ``best.pt`` with yololab's validator and log it, with the model statistics, at its own step.

        The step is the one after the last epoch (:func:`final_step`), as Ultralytics logs its own final validation,
        so no key's history doubles back at the last epoch.

        The validator is the one ``infer`` and ``quant`` use (``rect=False``), so the final ``det.*`` of a training run
        equal an inference run's on the same weights.
        """
        from yololab.adapters.ultralytics_env import ultralytics_log_level
        from yololab.adapters.ultralytics_model import validate_model_table
        from yololab.report.plots import plot_per_class_ap

        cfg = self.config
        with ultralytics_log_level():
            detection, per_class = validate_model_table(
                best, data.data_yaml, imgsz=cfg.imgsz, device=single_device(cfg.device)
            )
        log_per_class(recorder, per_class)
        final = TrainingMetricsSnapshot(epoch=final_step(logger.history), detection=detection)
        recorder.log_metrics(final.to_mlflow_dict(logger.class_keys), step=final.epoch)
        final.system = log_model_stats(recorder, best, cfg.imgsz, step=final.epoch)
        if detection.per_class_ap:
            recorder.log_figure(plot_per_class_ap({"best.pt": detection.per_class_ap}), "plots/per_class_ap.png")
        return final, per_class

    def _train_args(self, data: PreparedData, save_dir: Path) -> dict[str, Any]:
        cfg, t = self.config, self.config.train
        args: dict[str, Any] = {
            "data": str(data.data_yaml),
            "epochs": t.epochs,
            "imgsz": cfg.imgsz,
            "batch": t.batch,
            "workers": t.workers,
            "device": cfg.device,
            "seed": cfg.seed,
            "deterministic": True,
            "project": str(save_dir.parent),
            "name": save_dir.name,
            "exist_ok": True,
            "plots": False,
            "verbose": False,
            "val": True,
            "amp": False,
        }
        args.update(t.model_dump(exclude={"extra_args"}))
        args.update(t.extra_args)
        return args

    def _log_artifacts(self, recorder: ExperimentRecorder, save_dir: Path, logger: _EpochLogger) -> None:
        """Weights, results table, per-epoch plot, per-class AP plot and the class-key mapping (best effort)."""
        from yololab.report.plots import plot_epoch_curves

        best, last = _weights(save_dir)
        for weights in (best, last):
            if weights is not None:
                recorder.log_artifact(weights, "weights")
        results_csv = save_dir / "results.csv"
        if results_csv.exists():
            recorder.log_artifact(results_csv, "tables")
        if logger.class_keys:
            recorder.log_dict(logger.class_keys, "class_keys.json")
        if logger.history:
            history = _history_series(logger.history)
            recorder.log_figure(plot_epoch_curves(history), "plots/metrics_per_epoch.png")
            _write_epoch_table(save_dir / "yololab_epochs.csv", logger.history)
            recorder.log_artifact(save_dir / "yololab_epochs.csv", "tables")


def check_start_model(model: str, *, imgsz: int, device: str = "cpu") -> None:
    """Refuse a starting model that training cannot use, before Ultralytics sees it (it would try a download).

    A model YAML (``yolo11n.yaml``, or a path to one) is left to Ultralytics. Anything else must be a local ``.pt``
    checkpoint that exists, is not empty, loads, and is a detection model that runs
    (:func:`~yololab.adapters.ultralytics_model.inspect_model`).

    Raises:
        ModelCheckError: the message names the file and what was expected.
    """
    from yololab.adapters.ultralytics_model import ModelCheckError, inspect_model

    path = Path(model).expanduser()
    expected = "a model YAML such as yolo11n.yaml (trained from scratch) or a local .pt checkpoint to start from"
    if path.suffix.lower() in {".yaml", ".yml"}:
        return
    if not path.exists():
        raise ModelCheckError(f"model: {model!r} does not exist (expected {expected}; yololab never downloads weights)")
    if path.is_file() and path.stat().st_size == 0:
        raise ModelCheckError(f"model: {path.resolve()}: empty file (0 bytes); expected {expected}")
    if path.suffix.lower() != ".pt":
        raise ModelCheckError(f"model: {path.resolve()}: training cannot start from this file; expected {expected}")
    inspect_model(path, imgsz=imgsz, device=device)


def _weights(save_dir: Path) -> tuple[Path | None, Path | None]:
    best, last = save_dir / "weights" / "best.pt", save_dir / "weights" / "last.pt"
    return (best if best.exists() else None), (last if last.exists() else None)


def _history_series(history: list[TrainingMetricsSnapshot]) -> dict[str, list[tuple[int, float]]]:
    series: dict[str, list[tuple[int, float]]] = {}
    for snap in history:
        for key, value in snap.detection.to_mlflow_dict("det").items():
            series.setdefault(key, []).append((snap.epoch, value))
    return series


def _write_epoch_table(path: Path, history: list[TrainingMetricsSnapshot]) -> None:
    path.write_text(rows_to_csv([{"epoch": s.epoch, **s.to_mlflow_dict()} for s in history]), encoding="utf-8")


__all__ = ["TrainingResult", "TrainingRunner", "check_start_model", "claim_output_dir"]

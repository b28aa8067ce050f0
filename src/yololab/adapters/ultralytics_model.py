"""Ultralytics models: loading and checking them, the validator, and the timed benchmark loop.

Every experiment measures through these functions, so that numbers compare across experiments:

* :func:`inspect_model` loads a model the user brings (``.pt``, ``.onnx``, an export folder), reads what it is (task,
  classes, input size, the Ultralytics version that wrote it) and runs one forward pass, so that a model that
  cannot serve is refused with a :class:`ModelCheckError` before anything is measured.
* :func:`validate_model` is Ultralytics' own validator (``model.val``) with ``rect=False`` so that ``.pt`` and
  exported models are scored on the same letterboxed inputs: its numbers are yololab's ``det.*``.
* :func:`benchmark_models` times one or more models end to end per image (``model.predict`` on an in-memory image:
  preprocess + inference + postprocess, device synchronised at both ends) at batch 1, then at the configured batch
  size; several models are measured in alternating blocks inside one process so that a comparison sees the same
  machine state. Ultralytics' own per-stage times (``Results.speed``) give the preprocess / forward / postprocess
  split.
"""

from __future__ import annotations

import gc
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from yololab.adapters.system_collector import SystemMetricsCollector
from yololab.metrics.detection import DetectionMetrics
from yololab.metrics.per_class import PerClassTable
from yololab.metrics.system import SystemMetrics

MEASURED_TASK = "detect"
"""The Ultralytics task yololab measures (boxes with classes: det.*, mot.*)."""

__all__ = [
    "BenchmarkResult",
    "ModelCheckError",
    "ModelInfo",
    "benchmark_models",
    "default_threads",
    "inspect_model",
    "load_model",
    "read_images",
    "validate_model",
    "validate_model_table",
]


class ModelCheckError(ValueError):
    """A model cannot be measured as given (cannot load, cannot run, wrong task or input size); says why."""


@dataclass(frozen=True)
class ModelInfo:
    """What a model is, read before measuring it.

    Attributes:
        path: the weights (file or export folder).
        format: ``pt``, ``onnx`` or the export folder's kind (``openvino`` ...).
        task: the Ultralytics task (``detect``, ``segment``, ``obb``, ``pose``, ``classify``).
        names: class names, index = class id; None when the file carries none (an ONNX without metadata).
        num_classes: classes the model predicts.
        input_size: fixed ``(height, width)`` of the input, or None when any size is accepted.
        batch: fixed batch size, or None when any batch is accepted.
        written_by: the Ultralytics version that wrote the file (checkpoint ``version`` / ONNX metadata), if known.
    """

    path: Path
    format: str
    task: str
    names: list[str] | None
    num_classes: int | None
    input_size: tuple[int, int] | None = None
    batch: int | None = None
    written_by: str | None = None
    notes: list[str] = field(default_factory=list)

    def tags(self) -> dict[str, str]:
        """Run tags describing the model (``yololab.model.*``)."""
        tags = {"yololab.model.task": self.task, "yololab.model.format": self.format}
        if self.written_by:
            tags["yololab.model.written_by"] = f"ultralytics {self.written_by}"
        if self.input_size:
            tags["yololab.model.input_size"] = f"{self.input_size[0]}x{self.input_size[1]} (fixed)"
        if self.notes:
            tags["yololab.model.notes"] = "; ".join(self.notes)[:4000]
        return tags


def installed_ultralytics() -> str:
    """The installed Ultralytics version."""
    from importlib.metadata import version

    return version("ultralytics")


def load_model(weights: str | Path, task: str = MEASURED_TASK) -> Any:
    """An Ultralytics ``YOLO`` for any format AutoBackend loads (``.pt``, ``.onnx``, OpenVINO dir, engine...)."""
    from ultralytics import YOLO

    return YOLO(str(weights), task=task)


def _checkpoint_version(path: Path) -> str | None:
    """``ckpt["version"]`` of a PyTorch checkpoint, or None when it cannot be read."""
    try:
        import torch

        ckpt = torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception:  # a checkpoint that does not unpickle has no version to tell
        return None
    return str(ckpt.get("version")) if isinstance(ckpt, dict) and ckpt.get("version") else None


def _written_by(path: Path, version: str | None) -> str:
    made = f"written by Ultralytics {version}" if version else "Ultralytics version that wrote it unknown"
    return f"{made}; installed: Ultralytics {installed_ultralytics()}"


def _fail(path: Path, what: str, err: BaseException, version: str | None) -> ModelCheckError:
    detail = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return ModelCheckError(f"{path}: {what} ({type(err).__name__}: {detail[:300]}); {_written_by(path, version)}")


def _format_of(path: Path) -> str:
    if path.is_dir():
        return path.name.rsplit("_", 2)[-2] if path.name.endswith("_model") else "dir"
    return path.suffix.lstrip(".").lower() or "file"


def _inspect_pt(path: Path) -> tuple[Any, ModelInfo]:
    from ultralytics import YOLO

    try:
        model = YOLO(str(path))
    except Exception as err:  # pickling errors, missing modules of a fork, a truncated file ...
        raise _fail(path, "cannot be loaded as an Ultralytics checkpoint", err, _checkpoint_version(path)) from None
    ckpt = getattr(model, "ckpt", None) or {}
    version = str(ckpt.get("version")) if isinstance(ckpt, dict) and ckpt.get("version") else None
    names = [str(model.names[i]) for i in sorted(model.names)]
    return model, ModelInfo(path, "pt", str(model.task), names, len(names), written_by=version)


def _inspect_onnx(path: Path) -> tuple[Any, ModelInfo]:
    from yololab.adapters.onnx_files import read_onnx_facts

    try:
        facts = read_onnx_facts(path)
    except ValueError as err:
        raise ModelCheckError(str(err)) from None
    notes = []
    if not facts.metadata:
        notes.append("no Ultralytics metadata: task taken as detect, class names unknown")
    task = facts.task or MEASURED_TASK
    size = facts.fixed_hw
    names = facts.names
    info = ModelInfo(
        path, "onnx", task, names, len(names) if names else facts.num_classes, size, facts.fixed_batch,
        facts.metadata.get("version"), notes,
    )  # fmt: skip
    return (load_model(path, task=task) if task == MEASURED_TASK else None), info


def inspect_model(weights: str | Path, *, imgsz: int, device: str = "cpu") -> tuple[Any, ModelInfo]:
    """Load a model, say what it is, and run one forward pass at ``imgsz``: refuse what yololab cannot measure.

    Returns:
        The loaded ``YOLO`` (already run once) and its :class:`ModelInfo`.

    Raises:
        ModelCheckError: the file does not exist, cannot be loaded, is not a detection model (the message names its
            task), has a fixed input size other than ``imgsz``, or fails on a forward pass (a checkpoint from a
            fork of Ultralytics); the message names the file and the Ultralytics versions involved.
    """
    path = Path(weights).expanduser().resolve()
    if not path.exists():
        raise ModelCheckError(f"{path}: does not exist (expected a local .pt, .onnx or export folder)")
    if path.is_file() and path.stat().st_size == 0:
        raise ModelCheckError(f"{path}: empty file (0 bytes); expected a .pt checkpoint or an .onnx model")
    if path.suffix.lower() == ".pt":
        model, info = _inspect_pt(path)
    elif path.suffix.lower() == ".onnx":
        model, info = _inspect_onnx(path)
    else:
        try:
            model = load_model(path)
        except Exception as err:
            raise _fail(path, "cannot be loaded by Ultralytics", err, None) from None
        info = ModelInfo(path, _format_of(path), MEASURED_TASK, None, None)
    if info.task != MEASURED_TASK:
        raise ModelCheckError(
            f"{path}: a {info.task!r} model; yololab measures detection models (task 'detect': boxes with classes, "
            f"scored as det.* and tracked as mot.*). {_written_by(path, info.written_by)}"
        )
    if info.input_size is not None and info.input_size != (imgsz, imgsz):
        h, w = info.input_size
        raise ModelCheckError(
            f"{path}: fixed input size {h}x{w}, but imgsz is {imgsz}; set imgsz: {h} (or --set imgsz={h}), or "
            "export the model with dynamic shapes"
        )
    try:
        model.predict(np.zeros((imgsz, imgsz, 3), np.uint8), imgsz=imgsz, device=device, verbose=False)
    except Exception as err:  # e.g. a YOLOv12-fork checkpoint: AttributeError: 'AAttn' object has no attribute 'qkv'
        raise _fail(path, "loads but fails on a forward pass", err, info.written_by) from None
    if info.names is None and info.format != "onnx":
        names = getattr(model, "names", None) or {}
        info = ModelInfo(
            info.path, info.format, info.task, [str(names[i]) for i in sorted(names)] or None, len(names) or None
        )
    return model, info


def validate_model(
    weights: str | Path,
    data_yaml: str | Path,
    *,
    imgsz: int,
    device: str = "cpu",
    batch: int = 16,
    half: bool = False,
    model: Any | None = None,
) -> DetectionMetrics:
    """Ultralytics' validator on the ``val`` split -> :class:`DetectionMetrics` (per-class AP included).

    With ``rect=False`` every image is letterboxed to the same square, so the batch size changes the speed, not
    the numbers; ``.pt`` models are validated in batches of ``batch``, exported ones at their own (batch 1).
    ``model``: the ``YOLO`` of ``weights`` when already loaded (:func:`load_model`; the timed loop can then use the
    same one), else it is loaded here.
    """
    return validate_model_table(weights, data_yaml, imgsz=imgsz, device=device, batch=batch, half=half, model=model)[0]


def validate_model_table(
    weights: str | Path,
    data_yaml: str | Path,
    *,
    imgsz: int,
    device: str = "cpu",
    batch: int = 16,
    half: bool = False,
    model: Any | None = None,
) -> tuple[DetectionMetrics, PerClassTable]:
    """:func:`validate_model`, and the per-class table ``yolo val`` prints, from the same validation.

    Returns:
        The :class:`DetectionMetrics` and the :class:`~yololab.metrics.per_class.PerClassTable` (``all`` row
        first, then each class present in the split, and the validator's speed per image).
    """
    from yololab.adapters.ultralytics_detection import detection_from_det_metrics, per_class_table

    model = model if model is not None else load_model(weights)
    is_pt = str(weights).endswith(".pt")
    extra = {"half": True} if half else {}  # Ultralytics warns that `half` is deprecated whenever it is passed
    seen: list[int] = []
    model.add_callback("on_val_end", lambda validator: seen.append(int(validator.seen)))
    with tempfile.TemporaryDirectory(prefix="yololab-val-") as scratch:  # not runs/detect/val-N in the user's folder
        metrics = model.val(
            data=str(data_yaml), imgsz=imgsz, batch=batch if is_pt else 1, device=device, rect=False,
            plots=False, verbose=False, workers=0, split="val", save_json=False, project=scratch, name="val", **extra,
        )  # fmt: skip
    return detection_from_det_metrics(metrics, per_class=True), per_class_table(metrics, seen[-1] if seen else 0)


def read_images(paths: Sequence[Path], *, limit: int | None = None) -> list[np.ndarray]:
    """BGR images (as Ultralytics reads them) of the first ``limit`` paths."""
    import cv2

    images = [cv2.imread(str(p)) for p in paths[:limit]]
    missing = [str(p) for p, im in zip(paths, images, strict=False) if im is None]
    if missing:
        raise ValueError(f"could not read image(s): {', '.join(missing[:3])}")
    return images


@dataclass
class BenchmarkResult:
    """Timing and telemetry of one model."""

    system: SystemMetrics
    samples_ms: dict[str, list[float]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)


def pin_threads(model: Any, threads: int) -> str | None:
    """Fix the CPU thread count: torch's intra-op pool, and onnxruntime's session when the model is ONNX.

    Returns:
        The onnxruntime execution provider that runs the model, or None for a model that is not ONNX.
    """
    import torch

    from yololab.adapters.onnx_files import pinned_session

    torch.set_num_threads(threads)
    backend = getattr(getattr(getattr(model, "predictor", None), "model", None), "backend", None)
    session = getattr(backend, "session", None)
    if session is None or not hasattr(session, "get_providers"):
        return None
    backend.session = pinned_session(session, threads)
    return str(backend.session.get_providers()[0])


def default_threads() -> int:
    """Physical CPU cores (psutil), at least 1: the thread count used when the config leaves it open."""
    import psutil

    return max(1, psutil.cpu_count(logical=False) or psutil.cpu_count() or 1)


def fixed_batch(weights: str | Path) -> int | None:
    """The batch an exported model is fixed to (None: any batch, as ``.pt`` and dynamic ONNX accept)."""
    if str(weights).endswith(".onnx"):
        from yololab.adapters.onnx_files import read_onnx_facts

        return read_onnx_facts(weights).fixed_batch
    return None if str(weights).endswith(".pt") else 1


def benchmark_models(
    models: Mapping[str, str | Path],
    images: Sequence[np.ndarray],
    *,
    imgsz: int,
    device: str = "cpu",
    warmup: int = 10,
    iterations: int = 100,
    batch_size: int = 1,
    threads: int | None = None,
    block: int = 10,
    half: bool = False,
    preloaded: Mapping[str, Any] | None = None,
) -> dict[str, BenchmarkResult]:
    """Time each model end to end per image at batch 1 (and at ``batch_size``), alternating between models.

    ``throughput`` is measured at ``batch_size``; with ``batch_size`` 1 it is the batch-1 rate. A model fixed to
    another batch (a static ONNX export) cannot run the batched pass: its ``throughput`` is then absent, with the
    reason in ``unavailable``, never the batch-1 figure under the batch name.

    Args:
        models: label -> weights path.
        images: BGR images; iterations cycle through them.
        imgsz: inference size (pixels).
        device: ``cpu``, ``cuda:0``, ...
        warmup: untimed iterations per model before timing (lazy init, allocator growth, autotune).
        iterations: timed batch-1 iterations per model; also the number of timed batches at ``batch_size``.
        batch_size: the batch for ``throughput``.
        threads: CPU threads for torch / onnxruntime, fixed and recorded; None: the number of physical cores.
        block: timed iterations per model before switching to the next one.
        half: FP16 inference (GPU).
        preloaded: label -> the ``YOLO`` of those weights when already loaded (e.g. for validation); the others are
            loaded here.
    """
    threads = threads or default_threads()
    preloaded = preloaded or {}
    loaded = {label: preloaded.get(label) or load_model(w) for label, w in models.items()}
    kwargs: dict[str, Any] = {"imgsz": imgsz, "device": device, "verbose": False, **({"half": True} if half else {})}
    providers: dict[str, str | None] = {}
    for label, model in loaded.items():
        model.predict(images[0], **kwargs)  # creates the predictor
        providers[label] = pin_threads(model, threads)
    results = {label: BenchmarkResult(system=SystemMetrics()) for label in loaded}
    batch1 = _alternate(loaded, images, kwargs, warmup=warmup, iterations=iterations, block=block, batch=1)
    for label, collector in batch1.items():
        results[label].system = collector.to_system_metrics(batch_size=1)
        results[label].samples_ms = {
            stage: collector.latency_samples_ms(stage)
            for stage in ("end_to_end", "preprocess", "forward", "postprocess")
        }
        results[label].unavailable = collector.unavailable_reasons
    if batch_size > 1:
        _measure_throughput(
            models, loaded, results, images, kwargs, iterations=iterations, block=block, batch=batch_size
        )
    for label, weights in models.items():
        results[label].details = {
            "threads": str(threads),
            "device": device,
            "format": Path(str(weights)).suffix or "dir",
            "batch_size": str(batch_size),
            **({"execution_provider": providers[label]} if providers[label] else {}),
        }
    return results


def _measure_throughput(
    models: Mapping[str, str | Path], loaded: Mapping[str, Any], results: dict[str, BenchmarkResult],
    images: Sequence[np.ndarray], kwargs: dict[str, Any], *, iterations: int, block: int, batch: int,
) -> None:  # fmt: skip
    """Time the batched pass of the models that accept ``batch``; the others get throughput absent, with why."""
    able = {}
    for label, weights in models.items():
        fixed = fixed_batch(weights)
        if fixed is None or fixed == batch:
            able[label] = loaded[label]
        else:
            results[label].system.throughput = None
            results[label].unavailable["sys.throughput"] = (
                f"{Path(str(weights)).name} is fixed to batch {fixed}; throughput at batch {batch} was not measured "
                "(export it with dynamic=True or batch=N to measure it)"
            )
    if not able:
        return
    batched = _alternate(able, images, kwargs, warmup=2, iterations=iterations, block=block, batch=batch)
    for label, collector in batched.items():
        results[label].system.throughput = collector.to_system_metrics(batch_size=batch).throughput


def _alternate(
    models: Mapping[str, Any],
    images: Sequence[np.ndarray],
    kwargs: dict[str, Any],
    *,
    warmup: int,
    iterations: int,
    block: int,
    batch: int,
) -> dict[str, SystemMetricsCollector]:
    device = kwargs["device"]
    collectors = {label: SystemMetricsCollector(device=device, warmup=warmup) for label in models}
    for collector in collectors.values():
        collector.start()
    try:
        for label, model in models.items():  # warm-up, untimed samples (collector drops the first `warmup`)
            for i in range(warmup):
                _timed_predict(model, collectors[label], _batch_of(images, i, batch), kwargs, batch)
        gc.collect()
        done = dict.fromkeys(models, 0)
        while any(n < iterations for n in done.values()):
            for label, model in models.items():
                for _ in range(min(block, iterations - done[label])):
                    frames = _batch_of(images, done[label], batch)
                    _timed_predict(model, collectors[label], frames, kwargs, batch)
                    done[label] += 1
    finally:
        for collector in collectors.values():
            collector.stop()
    return collectors


def _batch_of(images: Sequence[np.ndarray], index: int, batch: int) -> Any:
    if batch == 1:
        return images[index % len(images)]
    return [images[(index * batch + j) % len(images)] for j in range(batch)]


def _timed_predict(
    model: Any, collector: SystemMetricsCollector, frames: Any, kwargs: dict[str, Any], batch: int
) -> None:
    with collector.measure_latency("end_to_end"):
        results = model.predict(frames, batch=batch, **kwargs)
    if batch == 1:
        speed = results[0].speed
        collector.record_latency(speed["preprocess"], stage="preprocess")
        collector.record_latency(speed["inference"], stage="forward")
        collector.record_latency(speed["postprocess"], stage="postprocess")

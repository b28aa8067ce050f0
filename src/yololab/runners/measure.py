"""The validator and the benchmark loop every experiment uses, so that numbers compare across experiments.

* :func:`validate_model` is Ultralytics' own validator (``model.val``) with ``rect=False`` so that ``.pt`` and
  exported models are scored on the same letterboxed inputs: its numbers are yololab's ``det.*``.
* :func:`benchmark_models` times one or more models end to end per image (``model.predict`` on an in-memory
  image: preprocess + inference + postprocess, device synchronised at both ends) at batch 1, then at the
  configured batch size; several models are measured in alternating blocks inside one process so that a
  comparison sees the same machine state. Ultralytics' own per-stage times (``Results.speed``) give the
  preprocess / forward / postprocess split.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from yololab.adapters.system_collector import SystemMetricsCollector
from yololab.metrics.detection import DetectionMetrics
from yololab.metrics.system import SystemMetrics

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass
class BenchmarkResult:
    """Timing and telemetry of one model."""

    system: SystemMetrics
    samples_ms: dict[str, list[float]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)


def load_model(weights: str | Path) -> Any:
    """An Ultralytics ``YOLO`` for any format AutoBackend loads (``.pt``, ``.onnx``, OpenVINO dir, engine...)."""
    from ultralytics import YOLO

    return YOLO(str(weights), task="detect")


def validate_model(
    weights: str | Path, data_yaml: str | Path, *, imgsz: int, device: str = "cpu", batch: int = 16, half: bool = False
) -> DetectionMetrics:
    """Ultralytics' validator on the ``val`` split -> :class:`DetectionMetrics` (per-class AP included).

    With ``rect=False`` every image is letterboxed to the same square, so the batch size changes the speed, not
    the numbers; ``.pt`` models are validated in batches of ``batch``, exported ones at their own (batch 1).
    """
    from yololab.adapters.ultralytics_detection import detection_from_det_metrics

    model = load_model(weights)
    is_pt = str(weights).endswith(".pt")
    extra = {"half": True} if half else {}  # Ultralytics warns that `half` is deprecated whenever it is passed
    metrics = model.val(
        data=str(data_yaml), imgsz=imgsz, batch=batch if is_pt else 1, device=device, rect=False,
        plots=False, verbose=False, workers=0, split="val", save_json=False, **extra,
    )  # fmt: skip
    return detection_from_det_metrics(metrics, per_class=True)


def list_images(data_yaml: str | Path, *, split: str = "val") -> list[Path]:
    """Image files of a split of a YOLO ``data.yaml`` (a folder, a list of folders, or a .txt list of files)."""
    import yaml

    data_yaml = Path(data_yaml)
    raw = yaml.safe_load(data_yaml.read_text())
    root = Path(raw.get("path") or data_yaml.parent)
    entries = raw.get(split)
    if entries is None:
        raise ValueError(f"{data_yaml}: no '{split}' entry (expected a folder or list of folders of images)")
    files: list[Path] = []
    for entry in [entries] if isinstance(entries, str) else entries:
        path = Path(entry) if Path(entry).is_absolute() else root / entry
        if path.suffix == ".txt":
            files += [Path(line.strip()) for line in path.read_text().splitlines() if line.strip()]
        else:
            files += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{data_yaml}: the '{split}' split holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def read_images(paths: Sequence[Path], *, limit: int | None = None) -> list[np.ndarray]:
    """BGR images (as Ultralytics reads them) of the first ``limit`` paths."""
    import cv2

    images = [cv2.imread(str(p)) for p in paths[:limit]]
    missing = [str(p) for p, im in zip(paths, images, strict=False) if im is None]
    if missing:
        raise ValueError(f"could not read image(s): {', '.join(missing[:3])}")
    return images


def pin_threads(model: Any, threads: int) -> str | None:
    """Fix the CPU thread count: torch's intra-op pool, and onnxruntime's session when the model is ONNX.

    The ONNX session is rebuilt with ``intra_op_num_threads = threads`` and thread spinning off (onnxruntime's
    default lets idle workers spin, which on a small CPU slows the letterbox and NMS that follow each inference).

    Returns:
        The onnxruntime execution provider that runs the model, or None for a model that is not ONNX.
    """
    import torch

    torch.set_num_threads(threads)
    backend = getattr(getattr(getattr(model, "predictor", None), "model", None), "backend", None)
    session = getattr(backend, "session", None)
    if session is None or not hasattr(session, "get_providers"):
        return None
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Idle workers must not spin: they would steal the cores torch's pre/postprocessing needs right after.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    backend.session = ort.InferenceSession(session._model_path, options, providers=session.get_providers())
    return str(backend.session.get_providers()[0])


def default_threads() -> int:
    """Physical CPU cores (psutil), at least 1: the thread count used when the config leaves it open."""
    import psutil

    return max(1, psutil.cpu_count(logical=False) or psutil.cpu_count() or 1)


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
) -> dict[str, BenchmarkResult]:
    """Time each model end to end per image at batch 1 (and at ``batch_size``), alternating between models.

    Args:
        models: label -> weights path.
        images: BGR images; iterations cycle through them.
        imgsz: inference size (pixels).
        device: ``cpu``, ``cuda:0``, ...
        warmup: untimed iterations per model before timing (lazy init, allocator growth, autotune).
        iterations: timed batch-1 iterations per model; also the number of timed batches at ``batch_size``.
        batch_size: the batch for ``throughput``; 1 skips the batched pass.
        threads: CPU threads for torch / onnxruntime, fixed and recorded; None: the number of physical cores.
        block: timed iterations per model before switching to the next one.
        half: FP16 inference (GPU).
    """
    threads = threads or default_threads()
    loaded = {label: load_model(w) for label, w in models.items()}
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
    if batch_size > 1 and all(_accepts_batch(w, batch_size) for w in models.values()):
        batched = _alternate(loaded, images, kwargs, warmup=2, iterations=iterations, block=block, batch=batch_size)
        for label, collector in batched.items():
            results[label].system.throughput = collector.to_system_metrics(batch_size=batch_size).throughput
    for label, weights in models.items():
        results[label].details = {
            "threads": str(threads),
            "device": device,
            "format": Path(str(weights)).suffix or "dir",
            **({"execution_provider": providers[label]} if providers[label] else {}),
        }
    return results


def _accepts_batch(weights: str | Path, batch_size: int) -> bool:
    """``.pt`` models take any batch; exported models only the batch they were exported with (or dynamic)."""
    if str(weights).endswith(".pt"):
        return True
    if str(weights).endswith(".onnx"):
        import onnx

        dim = onnx.load(str(weights), load_external_data=False).graph.input[0].type.tensor_type.shape.dim[0]
        return bool(dim.dim_param) or dim.dim_value == batch_size
    return False


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

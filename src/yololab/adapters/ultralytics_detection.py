"""Ultralytics ``DetMetrics`` and trainer state -> :class:`DetectionMetrics` (the only place that reads them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from yololab.metrics.detection import DetectionMetrics
from yololab.metrics.per_class import ClassRow, PerClassTable

_STANDARD_LOSSES = ("box_loss", "cls_loss", "dfl_loss")


def detection_from_det_metrics(metrics: Any, *, per_class: bool = True) -> DetectionMetrics:
    """Read an Ultralytics ``DetMetrics`` (from ``model.val()`` or a trainer's validator) into the schema.

    ``mAP50 = box.map50``, ``mAP50_95 = box.map``, ``precision = box.mp``, ``recall = box.mr``, ``f1`` = mean of
    ``box.f1`` (per-class F1 at the confidence that maximises mean F1). Per-class AP covers only the classes
    present in the split (``ap_class_index``); Ultralytics' ``maps`` fills absent classes with the mean, which
    is not a measurement and is not used.

    Args:
        metrics: an ``ultralytics.utils.metrics.DetMetrics``.
        per_class: also read ``per_class_ap`` (AP50-95) and ``per_class_ap50``.
    """
    box = metrics.box
    f1 = np.asarray(box.f1, dtype=float)
    result = DetectionMetrics(
        mAP50=float(box.map50),
        mAP50_95=float(box.map),
        precision=float(box.mp),
        recall=float(box.mr),
        f1=float(f1.mean()) if f1.size else 0.0,
    )
    if per_class:
        names: Mapping[int, str] = metrics.names
        for i, cls in enumerate(metrics.ap_class_index):
            name = str(names[int(cls)])
            result.per_class_ap[name] = float(box.ap[i])
            result.per_class_ap50[name] = float(box.ap50[i])
    return result


def per_class_table(metrics: Any, images: int) -> PerClassTable:
    """The table ``yolo val`` prints, read from a validator's ``DetMetrics`` after ``model.val()``.

    ``all``: ``images`` (the validator's ``seen``), every label (``nt_per_class.sum()``) and
    ``mean_results()`` (``box.mp``, ``box.mr``, ``box.map50``, ``box.map``). Then each class present in the split
    (``ap_class_index``): ``nt_per_image``, ``nt_per_class``, ``box.p``, ``box.r``, ``box.ap50``, ``box.ap`` at
    that index; ``speed_ms`` is ``metrics.speed`` (ms per image).

    Args:
        metrics: an ``ultralytics.utils.metrics.DetMetrics`` holding a finished validation.
        images: images the validator saw (``validator.seen``).
    """
    box, names = metrics.box, metrics.names
    mp, mr, map50, map_ = (float(v) for v in metrics.mean_results())
    rows = [ClassRow("all", int(images), int(np.sum(metrics.nt_per_class)), mp, mr, map50, map_)]
    for i, cls in enumerate(metrics.ap_class_index):
        c = int(cls)
        rows.append(ClassRow(
            str(names[c]), int(metrics.nt_per_image[c]), int(metrics.nt_per_class[c]),
            float(box.p[i]), float(box.r[i]), float(box.ap50[i]), float(box.ap[i]),
        ))  # fmt: skip
    speed = {str(k): float(v) for k, v in (getattr(metrics, "speed", None) or {}).items()}
    return PerClassTable(rows, speed)


def with_losses(
    detection: DetectionMetrics, train_losses: Mapping[str, float], val_losses: Mapping[str, float]
) -> DetectionMetrics:
    """Attach losses named as the model names them (``box_loss``, ``cls_loss``, ``dfl_loss``, ``l1_loss``, ...)."""
    for name, value in train_losses.items():
        if name in _STANDARD_LOSSES:
            setattr(detection, name, float(value))
        else:
            detection.other_losses[name] = float(value)
    detection.val_losses.update({k: float(v) for k, v in val_losses.items()})
    return detection


def trainer_losses(trainer: Any) -> tuple[dict[str, float], dict[str, float]]:
    """Train losses (epoch means of ``trainer.tloss``) and val losses (``trainer.metrics['val/*']``) by name."""
    train: dict[str, float] = {}
    if getattr(trainer, "tloss", None) is not None:
        items = trainer.label_loss_items(trainer.tloss, prefix="train")
        train = {k.split("/", 1)[1]: float(v) for k, v in items.items()}
    metrics = trainer.metrics or {}
    val = {k.split("/", 1)[1]: float(v) for k, v in metrics.items() if k.startswith("val/")}
    return train, val


def trainer_learning_rates(trainer: Any) -> dict[str, float]:
    """Each optimizer parameter group's learning rate at the end of the epoch, by group (``pg0``, ``pg1``, ...).

    Read from ``trainer.lr`` (``{"lr/pg0": ...}``), which Ultralytics sets before its own loggers run.
    """
    rates = getattr(trainer, "lr", None) or {}
    return {str(name).rsplit("/", 1)[-1]: float(rate) for name, rate in rates.items()}

"""Detection metrics (``det.*``), as Ultralytics' validator reports them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from yololab.metrics._base import ScalarMetrics, from_mlflow_value, sub_dict
from yololab.metrics.keys import class_key_map, to_mlflow_key


@dataclass
class DetectionMetrics(ScalarMetrics):
    """Detection quality of a YOLO model on one dataset split.

    Ratios are fractions in [0, 1], exactly as Ultralytics' ``DetMetrics`` reports them (``box.map50``,
    ``box.map``, ``box.mp``, ``box.mr``); ``f1`` is the mean over classes of the per-class F1 at the confidence
    that maximises mean F1 (Ultralytics ``box.f1``). Losses during training are epoch means on the train set.

    Attributes:
        mAP50: mean AP at IoU 0.5 over classes present in the split.
        mAP50_95: mean AP averaged over IoU 0.50:0.05:0.95 (COCO mAP).
        precision: mean precision over classes (at the max-F1 confidence).
        recall: mean recall over classes (at the max-F1 confidence).
        f1: mean F1 over classes (at the max-F1 confidence).
        box_loss: train box (IoU) loss, epoch mean.
        cls_loss: train classification loss, epoch mean.
        dfl_loss: train distribution-focal loss, epoch mean (absent for models without DFL, e.g. YOLO26).
        other_losses: any other train loss the model reports, by its own name (``l1_loss`` ...) -> ``det.{name}``.
        val_losses: validation losses by name (``box_loss`` ...) -> ``det.val_{name}``.
        per_class_ap: class name -> AP50-95 of that class -> ``det.ap.{class_key}``.
        per_class_ap50: class name -> AP50 of that class -> ``det.ap50.{class_key}``.
    """

    mAP50: float | None = None
    mAP50_95: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    box_loss: float | None = None
    cls_loss: float | None = None
    dfl_loss: float | None = None
    other_losses: dict[str, float] = field(default_factory=dict)
    val_losses: dict[str, float] = field(default_factory=dict)
    per_class_ap: dict[str, float] = field(default_factory=dict)
    per_class_ap50: dict[str, float] = field(default_factory=dict)

    def class_keys(self) -> dict[str, str]:
        """Class name -> MLflow key part, for every class in ``per_class_ap`` then ``per_class_ap50``."""
        return class_key_map([*self.per_class_ap, *self.per_class_ap50])

    def to_mlflow_dict(self, prefix: str = "det", class_keys: Mapping[str, str] | None = None) -> dict[str, float]:
        """Flatten to MLflow keys; absent values give no key.

        Args:
            prefix: key prefix, ``det`` (or ``det.original`` / ``det.quantized``).
            class_keys: class name -> key part; defaults to :meth:`class_keys`. Pass the run's mapping so that the
                same class always gets the same key.
        """
        out = self._scalar_items(prefix)
        keys = dict(class_keys) if class_keys is not None else self.class_keys()
        missing = [n for n in [*self.per_class_ap, *self.per_class_ap50] if n not in keys]
        if missing:
            keys.update(class_key_map([*keys, *missing]))
        for name, value in self.other_losses.items():
            out[f"{prefix}.{to_mlflow_key(name)}"] = float(value)
        for name, value in self.val_losses.items():
            out[f"{prefix}.val_{to_mlflow_key(name)}"] = float(value)
        for name, value in self.per_class_ap.items():
            out[f"{prefix}.ap.{keys[name]}"] = float(value)
        for name, value in self.per_class_ap50.items():
            out[f"{prefix}.ap50.{keys[name]}"] = float(value)
        return out

    @classmethod
    def from_mlflow_dict(
        cls, values: Mapping[str, float], prefix: str = "det", class_names: Mapping[str, str] | None = None
    ) -> DetectionMetrics:
        """Rebuild from logged keys.

        Args:
            values: metric key -> value (e.g. ``run.data.metrics``).
            prefix: the prefix used when logging.
            class_names: key part -> class name (the inverse of the logged class-key mapping); without it the
                key parts are used as class names.
        """
        names = dict(class_names or {})
        own = sub_dict(values, prefix)
        metrics = cls(**cls._scalar_kwargs(values, prefix))
        scalar = set(cls.scalar_field_names())
        for rest, raw in own.items():
            value = from_mlflow_value(raw)
            if rest.startswith("ap."):
                metrics.per_class_ap[names.get(rest[3:], rest[3:])] = value
            elif rest.startswith("ap50."):
                metrics.per_class_ap50[names.get(rest[5:], rest[5:])] = value
            elif "." in rest or rest in scalar:
                continue
            elif rest.startswith("val_"):
                metrics.val_losses[rest[4:]] = value
            elif rest.endswith("_loss"):
                metrics.other_losses[rest] = value
        return metrics

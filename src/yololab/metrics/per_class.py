"""The per-class table of a validation, as ``yolo val`` prints it: one row per class, an ``all`` row first.

Pure data: the numbers are read from Ultralytics' validator by
:func:`yololab.adapters.ultralytics_detection.per_class_table`; this module only holds and lays them out (the
terminal, ``tables/per_class.csv``). It adds no MLflow metric key: the per-class AP keys stay ``det.ap.*``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SPEED_STAGES = ("preprocess", "inference", "postprocess")
"""The stages of Ultralytics' validator speed (ms per image) shown in the speed line, in its order."""


@dataclass(frozen=True)
class ClassRow:
    """One row of the table: a class (or ``all``) of the validated split.

    Attributes:
        name: the class name, or ``all`` for the whole split.
        images: images holding at least one instance of the class (``all``: images validated).
        instances: labelled instances of the class (``all``: every label).
        precision: precision at the confidence that maximises mean F1 (``all``: mean over classes).
        recall: recall at that confidence (``all``: mean over classes).
        mAP50: AP at IoU 0.5 (``all``: mean over the classes present).
        mAP50_95: AP over IoU 0.50:0.95 (``all``: mean over the classes present).
    """

    name: str
    images: int
    instances: int
    precision: float
    recall: float
    mAP50: float
    mAP50_95: float

    def as_dict(self) -> dict[str, Any]:
        """The row with the column names of :data:`COLUMNS` (what ``tables/per_class.csv`` holds)."""
        values = (self.name, self.images, self.instances, self.precision, self.recall, self.mAP50, self.mAP50_95)
        return dict(zip(COLUMNS, values, strict=True))


COLUMNS = ("class", "images", "instances", "P", "R", "mAP50", "mAP50-95")
"""The table's columns, named as ``yolo val`` names them."""


@dataclass(frozen=True)
class PerClassTable:
    """The ``all`` row, one row per class present in the split, and the validator's speed per image.

    Attributes:
        rows: ``all`` first, then the classes in class-index order.
        speed_ms: milliseconds per image of each stage (``preprocess``, ``inference``, ``postprocess`` ...).
    """

    rows: list[ClassRow]
    speed_ms: dict[str, float] = field(default_factory=dict)

    def as_rows(self) -> list[dict[str, Any]]:
        """Every row as a dict (``all`` first), for :func:`yololab.tables.rows_to_csv`."""
        return [row.as_dict() for row in self.rows]

    def speed_line(self) -> str:
        """``speed: 0.2 ms preprocess, 5.1 ms inference, 0.9 ms postprocess per image`` (stages measured only).

        Example:
            >>> PerClassTable([], {"preprocess": 0.21, "inference": 5.13, "loss": 0.0, "postprocess": 0.9}).speed_line()
            'speed: 0.2 ms preprocess, 5.1 ms inference, 0.9 ms postprocess per image'
        """
        parts = [f"{self.speed_ms[s]:.1f} ms {s}" for s in SPEED_STAGES if s in self.speed_ms]
        return "speed: " + ", ".join(parts) + " per image" if parts else "speed: not measured"


__all__ = ["COLUMNS", "SPEED_STAGES", "ClassRow", "PerClassTable"]

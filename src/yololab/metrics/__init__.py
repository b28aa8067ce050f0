"""Pure metric definitions and maths: stdlib, numpy and scipy only.

Nothing under ``yololab.metrics`` imports Ultralytics, MLflow, NVML or torch; a test checks it.

The names below are loaded on first use (PEP 562), so that importing a subpackage - ``yololab.metrics.mot`` for
``yololab eval-mot`` - does not load the detection, system and result schemas as well (12 ms).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from yololab.metrics._lazy import lazy_getattr

if TYPE_CHECKING:
    from yololab.metrics.detection import DetectionMetrics
    from yololab.metrics.keys import class_key_map, to_mlflow_key
    from yololab.metrics.results import (
        ComparisonMetrics,
        InferenceMetricsResult,
        QuantizationMetricsResult,
        TrainingMetricsSnapshot,
    )
    from yololab.metrics.system import SystemMetrics
    from yololab.metrics.tracking import MOTMetrics

_HOMES = {
    "ComparisonMetrics": "results",
    "DetectionMetrics": "detection",
    "InferenceMetricsResult": "results",
    "MOTMetrics": "tracking",
    "QuantizationMetricsResult": "results",
    "SystemMetrics": "system",
    "TrainingMetricsSnapshot": "results",
    "class_key_map": "keys",
    "to_mlflow_key": "keys",
}
"""Each public name -> the module of ``yololab.metrics`` that defines it."""

__all__ = [
    "ComparisonMetrics",
    "DetectionMetrics",
    "InferenceMetricsResult",
    "MOTMetrics",
    "QuantizationMetricsResult",
    "SystemMetrics",
    "TrainingMetricsSnapshot",
    "class_key_map",
    "to_mlflow_key",
]


__getattr__ = lazy_getattr(__name__, _HOMES)

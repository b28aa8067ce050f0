"""Pure metric definitions and maths: stdlib, numpy and scipy only.

Nothing under ``yololab.metrics`` imports Ultralytics, MLflow, NVML or torch; a test checks it.
"""

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

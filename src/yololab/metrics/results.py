"""The containers each experiment type logs: one per experiment, with its fixed key families (SPEC §1)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from yololab.metrics._base import ScalarMetrics
from yololab.metrics.detection import DetectionMetrics
from yololab.metrics.system import SystemMetrics
from yololab.metrics.tracking import MOTMetrics

LR_PREFIX = "train.lr."
"""Key prefix of the per-epoch learning rates of a training run, one key per optimizer parameter group."""


@dataclass
class TrainingMetricsSnapshot:
    """Metrics at the end of one training epoch, logged with ``step=epoch`` (``det.*``, ``sys.*``, ``train.lr.*``).

    ``learning_rates`` maps each optimizer parameter group (``pg0``, ``pg1``, ... as Ultralytics names them: ``pg0``
    the weights with decay, ``pg1`` the normalisation weights, ``pg2`` the biases) to its learning rate at the end of
    the epoch, logged as ``train.lr.pg0`` ... (Ultralytics' own ``lr/pg0`` ...).

    Example:
        >>> snap = TrainingMetricsSnapshot(epoch=3, learning_rates={"pg0": 0.01})
        >>> snap.to_mlflow_dict()
        {'train.lr.pg0': 0.01}
        >>> TrainingMetricsSnapshot.from_mlflow_dict(snap.to_mlflow_dict(), epoch=3).learning_rates
        {'pg0': 0.01}
    """

    epoch: int
    detection: DetectionMetrics = field(default_factory=DetectionMetrics)
    system: SystemMetrics = field(default_factory=SystemMetrics)
    learning_rates: dict[str, float] = field(default_factory=dict)

    def to_mlflow_dict(self, class_keys: Mapping[str, str] | None = None) -> dict[str, float]:
        """``det.*``, ``sys.*`` and ``train.lr.*`` keys of this epoch (log them with ``step=self.epoch``)."""
        rates = {f"{LR_PREFIX}{group}": float(rate) for group, rate in self.learning_rates.items()}
        return {**self.detection.to_mlflow_dict("det", class_keys), **self.system.to_mlflow_dict("sys"), **rates}

    @classmethod
    def from_mlflow_dict(
        cls, values: Mapping[str, float], *, epoch: int, class_names: Mapping[str, str] | None = None
    ) -> TrainingMetricsSnapshot:
        """Rebuild one epoch from the values logged at ``step=epoch``."""
        return cls(
            epoch=epoch,
            detection=DetectionMetrics.from_mlflow_dict(values, "det", class_names),
            system=SystemMetrics.from_mlflow_dict(values, "sys"),
            learning_rates={k[len(LR_PREFIX) :]: v for k, v in values.items() if k.startswith(LR_PREFIX)},
        )


@dataclass
class InferenceMetricsResult:
    """Final result of an inference benchmark: detection, tracking (when enabled) and system metrics."""

    detection: DetectionMetrics = field(default_factory=DetectionMetrics)
    mot: MOTMetrics | None = None
    system: SystemMetrics = field(default_factory=SystemMetrics)

    def to_mlflow_dict(self, class_keys: Mapping[str, str] | None = None) -> dict[str, float]:
        """``det.*``, ``mot.*`` (when tracking ran) and ``sys.*`` keys."""
        out = {**self.detection.to_mlflow_dict("det", class_keys), **self.system.to_mlflow_dict("sys")}
        if self.mot is not None:
            out.update(self.mot.to_mlflow_dict("mot"))
        return out

    @classmethod
    def from_mlflow_dict(
        cls, values: Mapping[str, float], class_names: Mapping[str, str] | None = None
    ) -> InferenceMetricsResult:
        """Rebuild from a run's metrics; ``mot`` is ``None`` when no ``mot.*`` key was logged."""
        mot = MOTMetrics.from_mlflow_dict(values, "mot")
        has_mot = any(k.startswith("mot.") for k in values)
        return cls(
            detection=DetectionMetrics.from_mlflow_dict(values, "det", class_names),
            mot=mot if has_mot else None,
            system=SystemMetrics.from_mlflow_dict(values, "sys"),
        )


@dataclass
class ComparisonMetrics(ScalarMetrics):
    """Original vs quantized model, measured in the same process (``comparison.*``).

    Attributes:
        accuracy_drop_mAP50: original mAP50 - quantized mAP50 (positive = the quantized model is worse).
        accuracy_drop_mAP50_95: original mAP50-95 - quantized mAP50-95.
        speedup_ratio: original mean latency / quantized mean latency (> 1 = the quantized model is faster).
        compression_ratio: original file size / quantized file size.
    """

    HIGHER_IS_BETTER: ClassVar[dict[str, bool]] = {
        "accuracy_drop_mAP50": False,
        "accuracy_drop_mAP50_95": False,
        "speedup_ratio": True,
        "compression_ratio": True,
    }

    accuracy_drop_mAP50: float | None = None
    accuracy_drop_mAP50_95: float | None = None
    speedup_ratio: float | None = None
    compression_ratio: float | None = None

    @classmethod
    def from_sides(
        cls,
        original_detection: DetectionMetrics,
        original_system: SystemMetrics,
        quantized_detection: DetectionMetrics,
        quantized_system: SystemMetrics,
    ) -> ComparisonMetrics:
        """Compute every comparison whose inputs were measured on both sides; the others stay absent."""
        return cls(
            accuracy_drop_mAP50=_difference(original_detection.mAP50, quantized_detection.mAP50),
            accuracy_drop_mAP50_95=_difference(original_detection.mAP50_95, quantized_detection.mAP50_95),
            speedup_ratio=_ratio(original_system.inference_time_ms, quantized_system.inference_time_ms),
            compression_ratio=_ratio(original_system.model_size_mb, quantized_system.model_size_mb),
        )

    def missed_gates(self, gates: Mapping[str, tuple[str, float | None]]) -> list[str]:
        """The quality gates this comparison misses; a gate whose value was not measured is missed.

        Args:
            gates: gate name -> (field, limit). The field's :attr:`HIGHER_IS_BETTER` says whether the limit is a
                minimum or a maximum; a None limit is not checked.

        Example:
            >>> c = ComparisonMetrics(accuracy_drop_mAP50=0.03, speedup_ratio=1.4)
            >>> gates = {"max_accuracy_drop": ("accuracy_drop_mAP50", 0.02), "min_speedup": ("speedup_ratio", 1.2)}
            >>> c.missed_gates(gates)
            ['accuracy_drop_mAP50 0.03 > max_accuracy_drop 0.02']
        """
        missed = []
        for gate, (name, limit) in gates.items():
            if limit is None:
                continue
            value, higher = getattr(self, name), self.HIGHER_IS_BETTER[name]
            if value is None or (value < limit if higher else value > limit):
                missed.append(f"{name} {value} {'<' if higher else '>'} {gate} {limit}")
        return missed


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


@dataclass
class QuantizationMetricsResult:
    """Original and quantized model measured alike, and their comparison.

    Keys: ``det.original.*``, ``sys.original.*``, ``det.quantized.*``, ``sys.quantized.*``, ``comparison.*``.
    ``comparison`` is computed from the two sides when not given.
    """

    original_detection: DetectionMetrics
    original_system: SystemMetrics
    quantized_detection: DetectionMetrics
    quantized_system: SystemMetrics
    comparison: ComparisonMetrics | None = None

    def __post_init__(self) -> None:
        if self.comparison is None:
            self.comparison = ComparisonMetrics.from_sides(
                self.original_detection, self.original_system, self.quantized_detection, self.quantized_system
            )

    def to_mlflow_dict(self, class_keys: Mapping[str, str] | None = None) -> dict[str, float]:
        """All five key families."""
        assert self.comparison is not None
        return {
            **self.original_detection.to_mlflow_dict("det.original", class_keys),
            **self.original_system.to_mlflow_dict("sys.original"),
            **self.quantized_detection.to_mlflow_dict("det.quantized", class_keys),
            **self.quantized_system.to_mlflow_dict("sys.quantized"),
            **self.comparison.to_mlflow_dict("comparison"),
        }

    @classmethod
    def from_mlflow_dict(
        cls, values: Mapping[str, float], class_names: Mapping[str, str] | None = None
    ) -> QuantizationMetricsResult:
        """Rebuild from a run's metrics (the logged comparison is kept as logged)."""
        return cls(
            original_detection=DetectionMetrics.from_mlflow_dict(values, "det.original", class_names),
            original_system=SystemMetrics.from_mlflow_dict(values, "sys.original"),
            quantized_detection=DetectionMetrics.from_mlflow_dict(values, "det.quantized", class_names),
            quantized_system=SystemMetrics.from_mlflow_dict(values, "sys.quantized"),
            comparison=ComparisonMetrics.from_mlflow_dict(values, "comparison"),
        )


_LOWER_IS_BETTER_FIELDS = frozenset({"fp", "fn", "ml", "frag", "id_switches"})
_LOWER_IS_BETTER_PARTS = ("loss", "_ms", "time", "memory", "power", "temperature", "energy", "size", "params", "flops")
_NEUTRAL_FIELDS = frozenset({"gt_tracks", "pred_tracks", "gt_dets", "pred_dets", "tp", "idtp", "idfp", "idfn"})


def higher_is_better(key: str) -> bool | None:
    """Whether a larger value of a logged key is an improvement; None when neither direction is better.

    ``comparison.*`` follows :attr:`ComparisonMetrics.HIGHER_IS_BETTER`; accuracies, FPS and throughput are better
    higher; losses, latencies, error counts, memory, power, temperature, energy and model size lower; counts of the
    data itself (ground-truth tracks) and utilisation are neutral.

    Example:
        >>> [higher_is_better(k) for k in ("det.mAP50", "sys.inference_time_p95_ms", "mot.id_switches")]
        [True, False, False]
        >>> higher_is_better("mot.gt_tracks") is None and higher_is_better("comparison.speedup_ratio")
        True
    """
    family, _, name = key.partition(".")
    field = name.rsplit(".", 1)[-1]
    if family == "comparison":
        return ComparisonMetrics.HIGHER_IS_BETTER.get(field)
    if field in _NEUTRAL_FIELDS or field.endswith("utilization_pct"):
        return None
    return not (field in _LOWER_IS_BETTER_FIELDS or any(part in field for part in _LOWER_IS_BETTER_PARTS))

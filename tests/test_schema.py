"""Quick unit tests of the metric schema: dict round-trips, absent fields, and MLflow-safe keys."""

from __future__ import annotations

import math
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yololab.metrics import (
    DetectionMetrics,
    InferenceMetricsResult,
    MOTMetrics,
    QuantizationMetricsResult,
    SystemMetrics,
    TrainingMetricsSnapshot,
    class_key_map,
    to_mlflow_key,
)
from yololab.metrics._base import from_mlflow_value
from yololab.metrics.keys import MAX_KEY_LENGTH, is_valid_mlflow_key

pytestmark = pytest.mark.quick

HOSTILE_NAMES = ["person (0.5)", "가방", "a/b", "a_b", "x" * 300, "x" * 300 + "y", "..", " .", "100%", "c#,+'@"]


def detection(**overrides: object) -> DetectionMetrics:
    """A fully measured DetectionMetrics with hostile class names."""
    values: dict[str, object] = dict(
        mAP50=0.8,
        mAP50_95=0.55,
        precision=0.75,
        recall=0.7,
        f1=0.72,
        box_loss=1.2,
        cls_loss=0.9,
        dfl_loss=1.05,
        other_losses={"l1_loss": 0.3},
        val_losses={"box_loss": 1.4},
        per_class_ap={n: 0.1 + i / 100 for i, n in enumerate(HOSTILE_NAMES)},
        per_class_ap50={n: 0.2 + i / 100 for i, n in enumerate(HOSTILE_NAMES)},
    )
    values.update(overrides)
    return DetectionMetrics(**values)  # type: ignore[arg-type]


def system() -> SystemMetrics:
    """Some measured system fields (the GPU ones absent, as on a CPU machine)."""
    return SystemMetrics(inference_time_ms=12.5, inference_time_p99_ms=20.0, fps=70.0, model_size_mb=5.4)


def mot() -> MOTMetrics:
    """Combined MOT metrics and one sequence."""
    seq = MOTMetrics(hota=0.5, mota=0.6, idf1=0.7, id_switches=3, deta=0.4, assa=0.6)
    return MOTMetrics(mota=0.6, motp=0.8, idf1=0.7, id_switches=3, hota=0.5, gt_tracks=10, sequences={"MOT17-02": seq})


def inverse(mapping: dict[str, str]) -> dict[str, str]:
    """Key part -> class name."""
    return {v: k for k, v in mapping.items()}


def test_detection_round_trip() -> None:
    original = detection()
    keys = original.class_keys()
    assert DetectionMetrics.from_mlflow_dict(original.to_mlflow_dict("det", keys), "det", inverse(keys)) == original


def test_absent_fields_give_no_keys() -> None:
    assert DetectionMetrics().to_mlflow_dict() == {}
    assert SystemMetrics().to_mlflow_dict("sys") == {}
    assert DetectionMetrics(mAP50=0.0).to_mlflow_dict() == {"det.mAP50": 0.0}
    assert "sys.gpu_memory_used_mb" not in system().to_mlflow_dict("sys")


def test_containers_round_trip() -> None:
    det = detection()
    keys = det.class_keys()
    snapshot = TrainingMetricsSnapshot(epoch=3, detection=det, system=system())
    rebuilt = TrainingMetricsSnapshot.from_mlflow_dict(
        snapshot.to_mlflow_dict(keys), epoch=3, class_names=inverse(keys)
    )
    assert rebuilt == snapshot
    inference = InferenceMetricsResult(detection=det, mot=mot(), system=system())
    assert InferenceMetricsResult.from_mlflow_dict(inference.to_mlflow_dict(keys), inverse(keys)) == inference
    assert InferenceMetricsResult.from_mlflow_dict(InferenceMetricsResult().to_mlflow_dict()).mot is None
    quant = QuantizationMetricsResult(det, system(), detection(mAP50=0.7), SystemMetrics(inference_time_ms=5.0))
    flat = quant.to_mlflow_dict(keys)
    assert flat["comparison.accuracy_drop_mAP50"] == pytest.approx(0.1)
    assert flat["comparison.speedup_ratio"] == pytest.approx(2.5)
    assert "comparison.compression_ratio" not in flat  # the quantized size was not measured
    assert QuantizationMetricsResult.from_mlflow_dict(flat, inverse(keys)) == quant


def test_hostile_class_names_give_valid_unique_keys() -> None:
    keys = class_key_map(HOSTILE_NAMES)
    assert len(set(keys.values())) == len(HOSTILE_NAMES)
    assert keys["a/b"] != keys["a_b"]
    assert keys["가방"] == "가방"
    flat = detection().to_mlflow_dict("det.original", keys)
    assert all(is_valid_mlflow_key(k) and len(k) <= MAX_KEY_LENGTH for k in flat)
    assert len(flat) == 8 + 2 + 2 * len(HOSTILE_NAMES)


def test_300_character_names_fit_250_with_prefix() -> None:
    key = f"det.quantized.ap50.{to_mlflow_key('é' * 300)}"
    assert len(key) <= MAX_KEY_LENGTH
    assert is_valid_mlflow_key(key)


@pytest.mark.parametrize(
    ("stored", "expected"),
    [(sys.float_info.max, math.inf), (-sys.float_info.max, -math.inf), (1.5, 1.5)],
    ids=["+inf", "-inf", "finite"],
)
def test_mlflow_infinity_maps_back(stored: float, expected: float) -> None:
    assert from_mlflow_value(stored) == expected


@given(st.text(max_size=400))
def test_to_mlflow_key_always_valid_and_deterministic(name: str) -> None:
    key = to_mlflow_key(name)
    assert key == to_mlflow_key(name)
    assert is_valid_mlflow_key(f"det.ap.{key}")
    assert "/" not in key


@given(st.lists(st.text(max_size=60), max_size=20))
def test_class_key_map_unique(names: list[str]) -> None:
    mapping = class_key_map(names)
    assert set(mapping) == set(names)
    assert len(set(mapping.values())) == len(mapping)
    assert mapping == class_key_map(names)

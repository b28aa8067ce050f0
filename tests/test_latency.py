"""latency_stats: oracle against numpy.percentile (linear), hand cases, properties, purity."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yololab.metrics.latency import LatencyStats, latency_stats

samples_strategy = st.lists(
    st.floats(min_value=0.0, max_value=1e4, allow_nan=False, allow_infinity=False), min_size=1, max_size=300
)


@pytest.mark.quick
@pytest.mark.oracle
@settings(max_examples=200, deadline=None)
@given(samples_strategy)
def test_matches_numpy(samples: list[float]) -> None:
    stats = latency_stats(samples)
    values = np.asarray(samples, dtype=np.float64)
    expected = np.percentile(values, [50, 90, 95, 99], method="linear")
    assert (stats.p50_ms, stats.p90_ms, stats.p95_ms, stats.p99_ms) == tuple(float(x) for x in expected)
    assert stats.mean_ms == float(values.mean())
    assert stats.std_ms == float(np.std(values, ddof=0))
    assert (stats.min_ms, stats.max_ms, stats.count) == (values.min(), values.max(), len(samples))


@pytest.mark.quick
@settings(max_examples=200, deadline=None)
@given(samples_strategy)
def test_order_properties(samples: list[float]) -> None:
    s = latency_stats(samples)
    assert s.min_ms <= s.p50_ms <= s.p90_ms <= s.p95_ms <= s.p99_ms <= s.max_ms
    assert s.min_ms <= s.mean_ms * (1 + 1e-12) and s.mean_ms <= s.max_ms * (1 + 1e-12)
    assert s.std_ms >= 0


@pytest.mark.quick
@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        ([5.0], LatencyStats(5.0, 0.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 1)),
        # linear: p90 of 1..4 sits at rank 0.9 * 3 = 2.7 -> 3 + 0.7 * (4 - 3)
        ([4.0, 1.0, 3.0, 2.0], LatencyStats(2.5, np.sqrt(1.25), 1.0, 4.0, 2.5, 3.7, 3.85, 3.97, 4)),
        (list(range(101)), LatencyStats(50.0, np.std(np.arange(101)), 0.0, 100.0, 50.0, 90.0, 95.0, 99.0, 101)),
    ],
    ids=["one-sample", "four-unsorted", "0-to-100"],
)
def test_hand_cases(samples: list[float], expected: LatencyStats) -> None:
    stats = latency_stats(samples)
    for name in LatencyStats.__dataclass_fields__:
        assert getattr(stats, name) == pytest.approx(getattr(expected, name), rel=1e-12, abs=1e-12), name


@pytest.mark.quick
@pytest.mark.parametrize(
    ("samples", "match"),
    [([], "at least one sample"), ([1.0, float("nan")], "finite"), ([-1.0], ">= 0"), ([float("inf")], "finite")],
    ids=["empty", "nan", "negative", "inf"],
)
def test_rejects_bad_samples(samples: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        latency_stats(samples)

"""Latency statistics over raw timing samples (pure: stdlib + numpy).

Percentiles do not merge across runs, so callers keep every sample and summarise once with
:func:`latency_stats`. Definitions follow trtexec / MLPerf reporting: mean, population standard deviation,
extremes and the 50th/90th/95th/99th percentiles, each in milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """Summary of latency samples, in milliseconds.

    Attributes:
        mean_ms: arithmetic mean.
        std_ms: population standard deviation (``numpy.std`` with ``ddof=0``).
        min_ms: smallest sample.
        max_ms: largest sample.
        p50_ms: median, ``numpy.percentile(samples, 50)`` with linear interpolation.
        p90_ms: 90th percentile (linear interpolation).
        p95_ms: 95th percentile (linear interpolation).
        p99_ms: 99th percentile (linear interpolation).
        count: number of samples.
    """

    mean_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    count: int


def latency_stats(samples_ms: Sequence[float] | np.ndarray) -> LatencyStats:
    """Summarise latency samples: mean, population std, min, max and linear percentiles.

    Percentiles are ``numpy.percentile(samples, q, method="linear")`` (numpy's default, the same as
    Excel's ``PERCENTILE.INC``), so p50 of ``[1, 2, 3, 4]`` is 2.5. The standard deviation is the population
    one (``ddof=0``): the samples are the whole timed run, not a sample of a larger population.

    Args:
        samples_ms: one latency per timed iteration, in milliseconds; shape ``(N,)``, ``N >= 1``, finite and
            non-negative.

    Returns:
        The summary, every field in milliseconds except ``count``.

    Raises:
        ValueError: when there are no samples, or a sample is negative, NaN or infinite.

    Example:
        >>> s = latency_stats([1.0, 2.0, 3.0, 4.0])
        >>> (s.mean_ms, s.p50_ms, s.min_ms, s.max_ms, s.count)
        (2.5, 2.5, 1.0, 4.0, 4)
    """
    values = np.asarray(samples_ms, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError("latency_stats needs at least one sample, got none")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError("latency samples must be finite and >= 0 ms; got NaN, inf or a negative value")
    p50, p90, p95, p99 = np.percentile(values, [50, 90, 95, 99], method="linear")
    return LatencyStats(
        mean_ms=float(values.mean()),
        std_ms=float(values.std(ddof=0)),
        min_ms=float(values.min()),
        max_ms=float(values.max()),
        p50_ms=float(p50),
        p90_ms=float(p90),
        p95_ms=float(p95),
        p99_ms=float(p99),
        count=int(values.size),
    )

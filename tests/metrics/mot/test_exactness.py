"""The closed-form parts reproduce numpy's floating-point order exactly (what TrackEval's results rest on)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yololab.metrics.mot.matching import pairwise_row_sums

pytestmark = pytest.mark.quick


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 12), m=st.integers(1, 140), density=st.floats(0.05, 1.0), seed=st.integers(0, 2**32 - 1))
def test_pairwise_row_sums_equal_numpy_bit_for_bit(n: int, m: int, density: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    dense = rng.random((n, m)) * (rng.random((n, m)) < density)
    rows, cols = np.nonzero(dense)  # row-major, as the pairs
    sums, exact = pairwise_row_sums(rows, cols, dense[rows, cols], np.full(n, m), n)
    expected = dense.sum(1)
    assert np.array_equal(sums[exact], expected[exact])
    assert exact.all() == (m <= 128)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(2, 40), m=st.integers(2, 60), seed=st.integers(0, 2**32 - 1))
def test_column_sums_are_sequential_for_two_or_more_columns(n: int, m: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    dense = rng.random((n, m)) * (rng.random((n, m)) < 0.5)
    rows, cols = np.nonzero(dense)
    assert np.array_equal(np.bincount(cols, weights=dense[rows, cols], minlength=m), dense.sum(0))

"""The vectorised MOTChallenge text parser: every value as ``float()`` reads it, bit for bit; other layouts refused."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yololab.metrics.mot import textparse
from yololab.metrics.mot.textparse import parse_rows

pytestmark = pytest.mark.quick


def _bits(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)


def _reference(text: bytes) -> np.ndarray:
    rows = [line.split(b",") for line in text.splitlines() if line]
    return np.array([[float(x) for x in row] for row in rows])


_DIGITS = st.text("0123456789", min_size=1, max_size=10)
_FIELDS = st.one_of(
    st.integers(-(10**19), 10**19).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=64).map(repr),
    st.floats(-5000, 5000).map(lambda v: f"{v:.{random.Random(int(abs(v) * 7)).randint(0, 17)}f}"),
    st.tuples(_DIGITS, st.text("0123456789", max_size=12)).map(lambda p: f"{p[0]}.{p[1]}"),
    st.tuples(st.sampled_from(["", "-"]), st.text("0123456789", min_size=1, max_size=18)).map(lambda p: "".join(p)),
    st.floats(0, 1).map(lambda v: f"{v:.3e}"),
)


@settings(max_examples=300, deadline=None)
@given(rows=st.integers(1, 12).flatmap(lambda c: st.lists(st.lists(_FIELDS, min_size=c, max_size=c), min_size=1)))
def test_values_equal_float_bit_for_bit(rows: list[list[str]]) -> None:
    text = "\n".join(",".join(r) for r in rows).encode() + b"\n"
    parsed = parse_rows(text)
    assert parsed is not None
    values, lines = parsed
    np.testing.assert_array_equal(_bits(values), _bits(_reference(text)))
    assert lines.tolist() == list(range(1, len(rows) + 1))


@pytest.mark.parametrize(
    "field",
    [
        "9007199254740993",  # 2**53 + 1: not a double
        "9007199254740993.0",
        "1098.0538330078123",  # 17 digits: the extended-precision path
        "0.30000000000000004",
        "2.2250738585072014",
        "123456789012345678",
        "1234567890123456789",  # 19 digits: no dot, still exact in 64 bits
        "12345678901234567890",  # 20 digits: cast
        "0.000000000000000001",
        "-0",
        "-0.0",
        "00012",
        "12.",
        ".5",
        "-.5",
        "+5",
        "1E3",
        "1e-05",
        "-1",
    ],
)
def test_hard_fields(field: str) -> None:
    values, _ = parse_rows(f"1,{field}\n".encode())
    assert _bits(values[0, 1]) == _bits(np.float64(float(field)))


def test_halfway_cases_are_cast_not_double_rounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decimals whose extended-precision quotient lies halfway between two doubles go through numpy's cast.

    Integers are converted from their 64-bit value (correctly rounded by the hardware), so only the decimals need it.
    """
    cast_calls: list[int] = []
    real_cast = textparse._cast

    def counting_cast(buf, starts, ends):
        cast_calls.append(starts.size)
        return real_cast(buf, starts, ends)

    monkeypatch.setattr(textparse, "_cast", counting_cast)
    # 2**53 + 1 is exactly halfway between the doubles 2**53 and 2**53 + 2 (ties go to even: 2**53).
    halfway = ["9007199254740993.0", "9007199254740995.0", "18014398509481986.0"]
    fields = ["9007199254740993", "9007199254740995", "18014398509481986", "4.5035996273704965", *halfway]
    values, _ = parse_rows((",".join(fields) + "\n").encode())
    np.testing.assert_array_equal(_bits(values[0]), _bits(np.array([float(f) for f in fields])))
    if textparse._EXTENDED:
        assert sum(cast_calls) >= len(halfway)


def test_trailing_comma_and_crlf() -> None:
    values, lines = parse_rows(b"1,2,3.5,\r\n4,5,6,\r\n\r\n")
    assert values.tolist() == [[1.0, 2.0, 3.5], [4.0, 5.0, 6.0]] and lines.tolist() == [1, 2]


def test_padding_is_read_by_the_cast() -> None:
    values, _ = parse_rows(b"1, 2 ,3\n")
    assert values.tolist() == [[1.0, 2.0, 3.0]]


@pytest.mark.parametrize(
    "text",
    [
        b"1,2\n3\n",  # lines of different lengths
        b"1,,2\n",  # an empty field
        b"1,2,\n3,4\n",  # a trailing comma on some lines only
        b"1,a,2\n",  # not a number
        b"1 2 3\n",  # whitespace-separated
        b"1,2\n\n3,4\n",  # a blank line
        b"1,2.3.4\n",
        b"1,-\n",
        b"1,--2\n",
        b"1,2-3\n",
        b"1,.\n",
    ],
)
def test_other_layouts_are_left_to_the_general_reader(text: bytes) -> None:
    assert parse_rows(text) is None


def test_large_file_in_blocks_matches_float() -> None:
    """More fields than one block (64k), columns of different widths (1-3 words)."""
    rng = np.random.default_rng(3)
    n = 30_000
    cols = [
        np.arange(1, n + 1).astype(str),
        rng.integers(0, 500, n).astype(str),
        np.array([repr(float(v)) for v in rng.uniform(-50, 2000, n)]),
        np.array([f"{v:.5f}" for v in rng.uniform(0, 1, n)]),
        np.full(n, "-1"),
    ]
    text = ("\n".join(",".join(r) for r in zip(*cols, strict=True)) + "\n").encode()
    values, lines = parse_rows(text)
    np.testing.assert_array_equal(_bits(values), _bits(_reference(text)))
    assert lines[-1] == n


def test_integer_column_with_a_dot_further_down() -> None:
    """Columns without a dot on the first line are read as integers; a dot later falls back, exactly."""
    text = b"1,2,-3\n" * 5 + b"4,5.25,-6.5\n" + b"7,8,9\n"
    values, _ = parse_rows(text)
    np.testing.assert_array_equal(_bits(values), _bits(_reference(text)))
    assert values[5].tolist() == [4.0, 5.25, -6.5]


def test_columns_past_the_read_ones_are_checked_not_converted() -> None:
    """``columns``: the first ones as ``float()`` reads them; a later field that is no finite number refuses the
    text (the general reader then explains it), one that is (an exponent, many digits) does not."""
    text = b"1,2.5,-3,0.86,-1\n2,7,4,1e-05,123456789012345678901234\n"
    values, lines = parse_rows(text, columns=3)
    np.testing.assert_array_equal(_bits(values), _bits(_reference(text)[:, :3]))
    assert values.shape == (2, 3) and lines.tolist() == [1, 2]
    assert parse_rows(text, columns=9)[0].shape == (2, 5)
    for bad in (b"x", b"-", b".", b"nan", b"inf", b"1" * 400, b"--1", b"1.2.3"):
        assert parse_rows(b"1,2,3,4\n5,6,7," + bad + b"\n", columns=3) is None, bad

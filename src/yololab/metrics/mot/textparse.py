"""Exact, fast parsing of MOTChallenge text: comma-separated decimal numbers, one row a line (numpy only).

MOTChallenge files are plain: ``1,3,794.2,47.5,71.2,174.8,67.5,-1,-1,-1``. :func:`parse_rows` reads them without a
Python loop over lines or fields:

1. the separators (``,`` and newline) are found in one vectorised pass over the bytes; the lines must all have the
   same number of fields (a trailing comma on every line is an empty last column, dropped);
2. each field is read as up to three 8-byte words that end at its last byte (an unaligned ``uint64`` view of the
   buffer); a handful of 64-bit integer operations per word ("SWAR": SIMD within a register) check that every byte is
   a digit except for one optional ``.`` and a leading ``-`` (or, when four quick passes over the bytes show that the
   whole text has only such bytes, skip that check), find the ``.`` and combine the digits into the integer
   mantissa ``M`` (at most 18 digits, so ``M < 2**63``) with ``k`` digits after the ``.``; columns without a ``.`` on
   the first line are read as integers, with fewer operations (a ``.`` further down falls back);
3. the value is ``M / 10**k``. For ``M <= 2**53`` both operands are exact doubles and IEEE division rounds
   correctly, so the result is the double nearest the decimal - the value ``float()`` / ``strtod`` give. Larger
   mantissas are divided in 80-bit extended precision (exact operands, correctly rounded), then rounded to double;
   that double rounding can only go wrong when the extended result lies exactly halfway between two doubles, and
   those fields - as every field that is not a plain decimal (an exponent, ``+``, spaces, more than 18 digits) - are
   converted by numpy's string-to-float cast, which is correctly rounded too.

So every value is bit-identical to ``float(field)``. Text in another form (whitespace-separated, blank lines, lines
of different lengths, an empty field) gives None: the caller then uses a general reader, and explains errors.
"""

from __future__ import annotations

import numpy as np

__all__ = ["parse_rows"]

_PAD = 24
"""Zero bytes before the text, so that the three words ending at any field start inside the buffer."""

_MAX_DIGITS = 18
"""Digits of a field read by the integer path (``10**18 < 2**63``; the dot as a digit 0 keeps it below ``2**64``)."""

_BLOCK = 1 << 16
"""Fields converted at once: 64k fields keep each temporary array (512 KiB) in a core's L2 cache, 2-3x faster."""

_U = np.uint64
_ONES = _U(0x0101010101010101)
_LOW7 = _U(0x7F7F7F7F7F7F7F7F)
_NIBBLE = _U(0x0F0F0F0F0F0F0F0F)
_ZONE = _U(0xF0F0F0F0F0F0F0F0)
_DIGIT_ZONE = _U(0x3030303030303030)
_DOTS = _U(0x2E2E2E2E2E2E2E2E)
_SIXES = _U(0x0606060606060606)
_SIXTEENS = _U(0x1010101010101010)
_LANE_INDEX = _U(0x0001020304050607)
_LANE_MASK = np.array([0] + [(0xFFFFFFFFFFFFFFFF << (8 * (8 - c))) & 0xFFFFFFFFFFFFFFFF for c in range(1, 9)], _U)
"""``_LANE_MASK[c]``: the top ``c`` bytes of a word (the last ``c`` bytes in memory, little-endian)."""

_POW10_U = np.array([10**k for k in range(20)], _U)
_POW10_F = np.array([10.0**k for k in range(23)])
"""Powers of ten as exact doubles (``10**22`` is the largest exact one)."""

_EXTENDED = np.finfo(np.longdouble).nmant >= 63
"""Whether ``np.longdouble`` holds every 64-bit integer exactly (x87 extended or quad precision)."""

if _EXTENDED:
    _POW10_L = np.ones(23, np.longdouble)
    for _k in range(1, 23):
        _POW10_L[_k] = _POW10_L[_k - 1] * np.longdouble(10)  # exact: 10**22 needs 52 bits of mantissa


def _word_digits(
    words: np.ndarray, valid: np.ndarray, checked: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Digits, dot lanes and the validity of 8-byte words (in place: ``words`` is consumed).

    Args:
        words: ``(K,)`` uint64, bytes in memory order (little-endian: the first byte is the lowest).
        valid: ``(K,)`` uint64 lane mask of the bytes that belong to the field.
        checked: every byte is known to be a digit, ``.`` or a leading ``-`` (then ``ok`` is not computed).

    Returns:
        ``(value, dots, ok)``: the 8-digit number the valid lanes spell (the dot and invalid lanes as 0), a 0x80
        flag in each lane holding a ``.``, and whether every other valid lane is a digit (None when ``checked``).
    """
    t = words ^ _DOTS
    dots = t & _LOW7
    dots += _LOW7
    dots |= t
    dots |= _LOW7
    np.invert(dots, out=dots)
    dots &= valid  # 0x80 exactly where the byte is '.'
    lanes = np.right_shift(dots, _U(7), out=t)
    lanes *= _U(0xFF)
    np.invert(lanes, out=lanes)
    lanes &= valid  # the digit lanes
    x = words & _NIBBLE
    ok = None
    if not checked:
        bad = np.add(x, _SIXES)
        bad &= _SIXTEENS
        words &= _ZONE
        words ^= _DIGIT_ZONE
        bad |= words
        bad &= lanes
        ok = bad == 0
    x &= lanes
    for shift, mult, mask in _SWAR_STEPS:
        np.right_shift(x, shift, out=words)
        bad = words
        x *= mult
        x += bad
        x &= mask
    return x, dots, ok


_SWAR_STEPS = (
    (_U(8), _U(10), _U(0x00FF00FF00FF00FF)),
    (_U(16), _U(100), _U(0x0000FFFF0000FFFF)),
    (_U(32), _U(10000), _U(0xFFFFFFFF)),
)
"""Pairs of digits, then of pairs, then of quadruples: 8 digits (first byte most significant) to an integer."""


def _cast(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Numpy's correctly rounded string-to-float cast of the given fields (raises ValueError on a non-number)."""
    width = int((ends - starts).max(initial=1))
    cols = np.arange(width)
    idx = starts[:, None] + cols[None, :]
    inside = cols[None, :] < (ends - starts)[:, None]
    chars = np.where(inside, buf[np.minimum(idx, buf.size - 1)], 0).astype(np.uint8)
    return np.ascontiguousarray(chars).view(f"S{width}").ravel().astype(np.float64)


def _columns(
    buf: np.ndarray, words_at: np.ndarray, starts: np.ndarray, ends: np.ndarray, words: int, checked: bool
) -> np.ndarray:
    """The values of fields of at most ``8 * words`` bytes (any other field is cast; see the module docstring).

    ``checked``: every byte of every field is a digit, a dot or a leading minus (see :func:`parse_rows`).
    """
    neg = buf[starts] == 45  # '-'
    length = ends - starts - neg  # digits and dot
    simple = (length >= 1) & (length <= _MAX_DIGITS + 1)
    x = dots_seen = after_dot = None
    for k in range(words):
        lanes = length - 8 * k
        np.clip(lanes, 0, 8, out=lanes)
        value, dots, ok = _word_digits(words_at[ends - 8 * (k + 1)], np.take(_LANE_MASK, lanes), checked)
        if ok is not None:
            simple &= ok
        if k:
            x += value * _POW10_U[8 * k]
        else:
            x = value
        has = dots != 0
        # the one set bit 8 * lane + 7 of a lone dot; the lane's index is the top byte of its product with 0x01..07
        lane = (((dots >> _U(7)) * _LANE_INDEX) >> _U(56)).astype(np.int64)
        if k:
            simple &= ~(has & dots_seen)
            after_dot = np.where(has, 8 * k + 7 - lane, after_dot)
            dots_seen |= has
        else:
            after_dot = np.where(has, 7 - lane, 0)
            dots_seen = has
        simple &= (((dots >> _U(7)) * _ONES) >> _U(56)) <= 1  # the number of dot lanes (their 0x01s summed)
    assert x is not None and dots_seen is not None and after_dot is not None
    simple &= length - dots_seen >= 1  # at least one digit
    # x read the dot as a digit 0: x = 10 * I * 10**k + F with k digits after the dot; the mantissa is I * 10**k + F.
    dotted = np.flatnonzero(simple & dots_seen)
    if dotted.size:
        scale = _POW10_U[after_dot[dotted]]
        head, tail = np.divmod(x[dotted], scale)
        x[dotted] = (head // _U(10)) * scale + tail
    after_dot[~simple] = 0
    out = x.astype(np.float64)
    out /= _POW10_F[after_dot]
    rest = np.flatnonzero(simple & (x > _U(1 << 53)))  # not an exact double: the division above may round twice
    if rest.size and _EXTENDED:
        wide = x[rest].astype(np.longdouble) / _POW10_L[after_dot[rest]]
        near = wide.astype(np.float64)
        gap = np.abs(wide - near.astype(np.longdouble))
        ulp = np.spacing(np.abs(near)).astype(np.longdouble)
        exact = (2 * gap != ulp) & (4 * gap != ulp)  # else possibly halfway between two doubles
        out[rest[exact]] = near[exact]
        simple[rest[~exact]] = False
    elif rest.size:
        simple[rest] = False
    np.negative(out, out=out, where=neg)
    other = np.flatnonzero(~simple)
    if other.size:
        out[other] = _cast(buf, starts[other], ends[other])
    return out


def parse_rows(data: bytes) -> tuple[np.ndarray, np.ndarray] | None:
    r"""Rows of comma-separated numbers, exactly as ``float()`` reads each field.

    Args:
        data: the file's bytes; lines end with ``\n`` (or ``\r\n``); trailing newlines are ignored.

    Returns:
        ``(rows, lines)``: ``(R, C)`` float64 values and the ``(R,)`` 1-based line number of each row; or None when
        the text is not plain comma-separated rows of equal length (blank lines, whitespace separators, an empty
        field, a field that is not a number) - then read it with a general parser, which also explains errors.

    Example:
        >>> parse_rows(b"1,2,0.1,-3.5\n2,7,1e-05,40\n")[0].tolist()
        [[1.0, 2.0, 0.1, -3.5], [2.0, 7.0, 1e-05, 40.0]]
    """
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    text = data.rstrip(b"\n")
    if not text:
        return np.zeros((0, 0)), np.zeros(0, np.int64)
    raw = bytes(_PAD) + text + b"\n"
    buf = np.frombuffer(raw, np.uint8)
    seps = np.flatnonzero((buf == 44) | (buf == 10))
    is_nl = buf[seps] == 10
    rows = int(np.count_nonzero(is_nl))
    cols = int(np.argmax(is_nl)) + 1
    if seps.size != rows * cols or not is_nl[cols - 1 :: cols].all():
        return None
    starts = np.empty(seps.size, np.int64)
    starts[0] = _PAD
    starts[1:] = seps[:-1] + 1
    ends = seps
    empty = starts == ends
    if empty.any():
        grid = empty.reshape(rows, cols)
        if cols < 2 or not grid[:, -1].all() or grid[:, :-1].any():
            return None
        cols -= 1  # a trailing comma on every line
    # Every byte a digit, a separator, '.' or '-', and each '-' the first of its field: then fields need no check
    # byte by byte (four quick passes over the bytes instead of seven operations per 8-byte word).
    minus = int(np.count_nonzero(buf == 45))
    dots = np.flatnonzero(buf == 46)
    other = int(np.count_nonzero((buf - np.uint8(48)) > 9)) - _PAD - seps.size
    checked = other == minus + dots.size and minus == int(np.count_nonzero(buf[starts] == 45))
    full_cols = seps.size // rows
    first_line = dots[dots < seps[full_cols - 1]]
    dotted = np.zeros(full_cols, bool)  # columns with a '.' on the first line; the others are read as integers
    dotted[np.searchsorted(seps[:full_cols], first_line)] = True  # (which _integers checks, field by field)
    words_at = np.ndarray((buf.size - 7,), dtype="<u8", buffer=raw, strides=(1,))
    starts, ends = starts.reshape(rows, -1)[:, :cols], ends.reshape(rows, -1)[:, :cols]
    words = np.minimum((ends - starts).max(axis=0) + 7, 24) // 8  # per column: words that hold its longest field
    integer = dotted[:cols] == 0
    if not checked:
        integer[:] = False
    keys = sorted(set(zip(words.tolist(), integer.tolist(), strict=True)))
    groups = [(w, i, np.flatnonzero((words == w) & (integer == i))) for w, i in keys]
    out = np.empty((rows, cols))
    step = max(1, _BLOCK // cols)
    try:
        for r0 in range(0, rows, step):  # blocks that keep the temporaries in the CPU cache
            r1 = min(rows, r0 + step)
            for w, whole, pick in groups:
                s, e = starts[r0:r1, pick].ravel(), ends[r0:r1, pick].ravel()
                values = _integers(buf, words_at, s, e, w) if whole else None
                if values is None:  # not integers after all (a '.' further down)
                    values = _columns(buf, words_at, s, e, w, checked)
                out[r0:r1, pick] = values.reshape(r1 - r0, pick.size)
    except ValueError:  # a field that is no number
        return None
    return out, np.arange(1, rows + 1)


def _integers(
    buf: np.ndarray, words_at: np.ndarray, starts: np.ndarray, ends: np.ndarray, words: int
) -> np.ndarray | None:
    """:func:`_columns` for fields of digits with an optional leading ``-``, in fewer operations.

    Every byte is known to be a digit, a separator, ``.`` or a leading ``-``; None when a field holds a ``.`` after
    all (the caller then uses :func:`_columns`).
    """
    neg = buf[starts] == 45
    length = ends - starts - neg
    x = None
    for k in range(words):
        lanes = length - 8 * k
        np.clip(lanes, 0, 8, out=lanes)
        valid = np.take(_LANE_MASK, lanes)
        w = words_at[ends - 8 * (k + 1)]
        scratch = np.invert(w)
        scratch &= _SIXTEENS
        scratch &= valid
        if scratch.any():  # bit 4 is set in every digit, not in '.' (nor '-', never inside a field here)
            return None
        w &= _NIBBLE
        w &= valid
        for shift, mult, mask in _SWAR_STEPS:
            np.right_shift(w, shift, out=scratch)
            w *= mult
            w += scratch
            w &= mask
        if k:
            w *= _POW10_U[8 * k]
            x += w
        else:
            x = w
    assert x is not None
    out = x.astype(np.float64)
    np.negative(out, out=out, where=neg)
    odd = np.flatnonzero((length < 1) | (length > _MAX_DIGITS) | (x > _U(1 << 53)))  # empty, long or not exact
    if odd.size:
        out[odd] = _cast(buf, starts[odd], ends[odd])
    return out

"""Exact, fast parsing of MOTChallenge text: comma-separated decimal numbers, one row a line (numpy only).

MOTChallenge files are plain: ``1,3,794.2,47.5,71.2,174.8,67.5,-1,-1,-1``. :func:`parse_rows` reads them without a
Python loop over lines or fields:

1. the separators (``,`` and newline) and the dots are found in one vectorised pass each over the bytes; the lines
   must all have the same number of fields (a trailing comma on every line is an empty last column, dropped). Where
   every line has its dots in the same columns, one a field (what a writer with a fixed format gives), the k-th dot
   of each line is the dot of that line's field in the first line's k-th dotted column; otherwise each dot's field
   is looked up; a field with two dots is no number;
2. a field ``[-]I.F`` is read as two runs of digits, the integer part ``I`` and the fraction ``F``, each as up to
   three 8-byte words that end at its last digit (an unaligned ``uint64`` view of the buffer), the bytes before the
   run masked off and the digits combined by three multiply-shift-mask steps ("SWAR": SIMD within a register). That
   needs no check byte by byte when four quick passes over the text show that it holds only digits, separators,
   dots and minus signs that start a field; fields holding anything else are left to the cast of step 4;
3. with ``k`` digits in ``F`` (at most 18 digits in all, so the mantissa ``M = I * 10**k + F < 2**63``) the value
   is ``M / 10**k``. For ``M <= 2**53`` both operands are exact doubles and IEEE division rounds correctly, so the
   result is the double nearest the decimal - the value ``float()`` / ``strtod`` give. Larger mantissas are divided
   in 80-bit extended precision (exact operands, correctly rounded), then rounded to double; that double rounding
   can only go wrong when the extended result lies exactly halfway between two doubles;
4. those fields - as every field that is not a plain decimal (an exponent, ``+``, spaces, more than 18 digits) - are
   converted by numpy's string-to-float cast, which is correctly rounded too.

So every value is bit-identical to ``float(field)``. Text in another form (whitespace-separated, blank lines, lines
of different lengths, an empty field) gives None: the caller then uses a general reader, and explains errors.
"""

from __future__ import annotations

import sys

import numpy as np

__all__ = ["parse_rows"]

_PAD = 24
"""Zero bytes before the text, so that the three words ending at any digit start inside the buffer."""

_MAX_DIGITS = 18
"""Digits of a field read by words (``10**18 < 2**63``); longer fields are cast."""

_BLOCK = 1 << 16
"""Fields converted at once: 64k fields keep each temporary array (512 KiB) in a core's L2 cache, 2-3x faster."""

_U = np.uint64
_NIBBLE = 0x0F0F0F0F0F0F0F0F
_DIGIT_MASK = np.array([0] + [(0xFFFFFFFFFFFFFFFF << (8 * (8 - c))) & _NIBBLE for c in range(1, 9)], _U)
"""``_DIGIT_MASK[c]``: the low nibbles of the top ``c`` bytes of a word (the last ``c`` bytes in memory,
little-endian): a digit's value, the bytes before the run dropped."""

_SWAR_STEPS = (
    (_U(10 << 8 | 1), _U(8), _U(0x00FF00FF00FF00FF)),
    (_U(100 << 16 | 1), _U(16), _U(0x0000FFFF0000FFFF)),
    (_U(10000 << 32 | 1), _U(32), None),
)
"""``(multiplier, shift, mask)``: pairs of digits, then of pairs, then of quadruples - 8 digits (the first byte most
significant) to an integer. ``w * (10 << 8 | 1) >> 8`` puts ``10 * d[i] + d[i + 1]`` in byte ``i``; the mask keeps
the even bytes; no step carries from one lane into the next."""

_POW10_U = np.array([10**k for k in range(20)], _U)
_POW10_F = np.array([10.0**k for k in range(23)])
"""Powers of ten as exact doubles (``10**22`` is the largest exact one)."""

_EXTENDED = np.finfo(np.longdouble).nmant >= 63
"""Whether ``np.longdouble`` holds every 64-bit integer exactly (x87 extended or quad precision)."""

if _EXTENDED:
    _POW10_L = np.ones(23, np.longdouble)
    for _k in range(1, 23):
        _POW10_L[_k] = _POW10_L[_k - 1] * np.longdouble(10)  # exact: 10**22 needs 52 bits of mantissa

_X87 = (
    _EXTENDED
    and np.finfo(np.longdouble).nmant == 63
    and np.dtype(np.longdouble).itemsize == 16
    and sys.byteorder == "little"
    and int(np.array([1.5], np.longdouble).view(_U)[0]) == 0xC000000000000000
)
"""``np.longdouble`` is x87 extended precision: each value's first 8 bytes are its 64-bit significand."""


def _cast(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Numpy's correctly rounded string-to-float cast of the given fields (raises ValueError on a non-number)."""
    width = int((ends - starts).max(initial=1))
    cols = np.arange(width)
    idx = starts[:, None] + cols[None, :]
    inside = cols[None, :] < (ends - starts)[:, None]
    chars = np.where(inside, buf[np.minimum(idx, buf.size - 1)], 0).astype(np.uint8)
    return np.ascontiguousarray(chars).view(f"S{width}").ravel().astype(np.float64)


def _digits(words_at: np.ndarray, last: np.ndarray, count: np.ndarray, words: int) -> np.ndarray:
    """The integers that runs of digits spell: ``count`` digits ending at byte ``last`` (read as ``words`` words).

    Counts above ``8 * words`` are read in part (the caller casts such fields); a count of 0 gives 0.
    """
    value = np.zeros(last.size, _U)
    for k in range(words):
        lanes = count - 8 * k
        np.clip(lanes, 0, 8, out=lanes)
        w = words_at[last - (8 * k + 7)]  # the word whose top byte is ``last - 8 k``
        w &= np.take(_DIGIT_MASK, lanes)
        for mult, shift, mask in _SWAR_STEPS:
            w *= mult
            w >>= shift
            if mask is not None:
                w &= mask
        if k:
            w *= _POW10_U[8 * k]
            value += w
        else:
            value = w
    return value


def _quotients(mantissa: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``mantissa / 10**scale`` as the nearest doubles, and the indices where that is not shown (to be cast)."""
    out = mantissa.astype(np.float64)  # exact up to 2**53
    out /= _POW10_F[scale]
    big = np.flatnonzero((mantissa > _U(1 << 53)) & (scale > 0))  # not an exact double: may round twice
    if not big.size or not _EXTENDED:
        return out, big
    wide = mantissa[big].astype(np.longdouble)
    wide /= _POW10_L[scale[big]]
    near = wide.astype(np.float64)
    out[big] = near
    if _X87:  # halfway: the 11 bits the rounding to double drops are 100 0000 0000
        unsure = (wide.view(_U)[::2] & _U(0x7FF)) == _U(0x400)
    else:
        gap = np.abs(wide - near.astype(np.longdouble))
        ulp = np.spacing(np.abs(near)).astype(np.longdouble)
        unsure = (2 * gap == ulp) | (4 * gap == ulp)  # possibly halfway between two doubles
    return out, big[unsure]


def _decimals(
    buf: np.ndarray,
    words_at: np.ndarray,
    fields: tuple[np.ndarray, np.ndarray, np.ndarray],
    words: tuple[int, int],
    odd: np.ndarray | None,
) -> np.ndarray:
    """The values of fields ``(start, dot, end)`` (dot: the byte index of the ``.``, or the end where there is none).

    ``words``: the words that hold the longest integer part and fraction (0: no field has a dot); ``odd``: fields
    holding a byte other than a digit, a dot or a leading minus (cast, as is every field of more than 18 digits or
    none).
    """
    starts, dots, ends = fields
    neg = buf[starts] == 45  # '-'
    whole = dots - starts
    whole -= neg  # digits before the dot
    mantissa = _digits(words_at, dots - 1, whole, words[0])
    if words[1]:
        fraction = ends - dots
        fraction -= 1  # digits after the dot (-1: none)
        np.maximum(fraction, 0, out=fraction)
        mantissa *= _POW10_U[np.minimum(fraction, _MAX_DIGITS)]
        mantissa += _digits(words_at, ends - 1, fraction, words[1])
        whole += fraction
    plain = (whole >= 1) & (whole <= _MAX_DIGITS)
    if odd is not None:
        plain &= ~odd
    if words[1]:
        fraction[~plain] = 0
        out, unsure = _quotients(mantissa, fraction)
    else:
        out, unsure = mantissa.astype(np.float64), None  # integers: converted exactly or rounded correctly
    sign = out.view(_U)
    sign |= neg.view(np.uint8).astype(_U) << _U(63)  # the sign bit (numpy's masked negative is 8x slower)
    other = np.flatnonzero(~plain)
    if unsure is not None and unsure.size:
        other = np.union1d(other, unsure)
    if other.size:
        out[other] = _cast(buf, starts[other], ends[other])
    return out


def _finite_numbers(buf: np.ndarray, fields: tuple[np.ndarray, np.ndarray, np.ndarray], odd: np.ndarray | None) -> bool:
    """Whether every field ``(start, dot, end)`` is a finite number, without converting the plain ones.

    A field of digits with at most one dot (:func:`_dot_positions` found no other) and at most a leading minus is a
    finite number if it holds a digit (and fewer than 300, else it may overflow); any other field is cast (raises
    ValueError if it is no number).
    """
    starts, dots, ends = (a.ravel() for a in fields)
    digits = ends - starts
    digits -= buf[starts] == 45
    digits -= dots < ends
    plain = (digits >= 1) & (digits < 300)
    if odd is not None:
        plain &= ~odd.ravel()
    other = np.flatnonzero(~plain)
    return not other.size or bool(np.isfinite(_cast(buf, starts[other], ends[other])).all())


def _dot_positions(
    buf: np.ndarray, seps: np.ndarray, starts: np.ndarray, ends: np.ndarray, rows: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Byte index of the dot of every field (its end where it has none), and which columns hold a dot.

    ``starts``, ``ends``: ``(rows, width)`` field bounds. None when a field holds two dots (no number).
    """
    width = starts.shape[1]
    dots = np.flatnonzero(buf == 46)
    at = ends.copy()
    dotted = np.zeros(width, bool)
    if not dots.size:
        return at, dotted
    per_line = int(np.searchsorted(dots, seps[width - 1]))
    if per_line and dots.size == rows * per_line:  # the same dotted columns on every line, one dot a field?
        grid = dots.reshape(rows, per_line)
        columns = np.searchsorted(seps[:width], grid[0])
        if (np.diff(columns) > 0).all() and (
            (grid >= np.take(starts, columns, axis=1)) & (grid < np.take(ends, columns, axis=1))
        ).all():
            at[:, columns] = grid
            dotted[columns] = True
            return at, dotted
    field = np.searchsorted(seps, dots)  # the flat index of each dot's field
    if (field[1:] == field[:-1]).any():
        return None
    at.ravel()[field] = dots
    dotted[field % width] = True
    return at, dotted


def _odd_fields(buf: np.ndarray, seps: np.ndarray, starts: np.ndarray) -> np.ndarray | None:
    """Flat mask of the fields holding a byte other than a digit, a dot or a leading minus (None: there are none)."""
    minus = buf == 45
    n_minus = int(np.count_nonzero(minus))
    other = int(np.count_nonzero((buf - np.uint8(48)) > 9)) - _PAD - seps.size
    n_dots = int(np.count_nonzero(buf == 46))
    if other == n_minus + n_dots and n_minus == int(np.count_nonzero(buf[starts] == 45)):
        return None
    body = buf[_PAD:]
    strange = (body - np.uint8(48) > 9) & (body != 44) & (body != 10) & (body != 46) & (body != 45)
    bad = np.flatnonzero(strange) + _PAD
    m = np.flatnonzero(minus)
    inner = m[(m > _PAD) & (buf[m - 1] != 44) & (buf[m - 1] != 10)]  # a minus that does not start its field
    odd = np.zeros(seps.size, bool)
    odd[np.searchsorted(seps, np.concatenate([bad, inner]))] = True
    return odd


def parse_rows(data: bytes, columns: int | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    r"""Rows of comma-separated numbers, exactly as ``float()`` reads each field.

    Args:
        data: the file's bytes; lines end with ``\n`` (or ``\r\n``); trailing newlines are ignored.
        columns: read only the first ``columns`` columns; the fields of the others are only checked to be finite
            numbers (as if read; a few operations a field instead of the conversion).

    Returns:
        ``(rows, lines)``: ``(R, C)`` float64 values (``C`` at most ``columns``) and the ``(R,)`` 1-based line
        number of each row; or None when the text is not plain comma-separated rows of equal length (blank lines,
        whitespace separators, an empty field, a field that is not a finite number where it is only checked, or
        not a number) - then read it with a general parser, which also explains errors.

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
    width = int(np.argmax(is_nl)) + 1  # fields a line
    if seps.size != rows * width or not is_nl[width - 1 :: width].all():
        return None
    starts = np.empty(seps.size, np.int64)
    starts[0] = _PAD
    starts[1:] = seps[:-1] + 1
    ends = seps
    cols = width
    empty = starts == ends
    if empty.any():
        grid = empty.reshape(rows, width)
        if width < 2 or not grid[:, -1].all() or grid[:, :-1].any():
            return None
        cols -= 1  # a trailing comma on every line: an empty last column
    odd = _odd_fields(buf, seps, starts)
    starts, ends = starts.reshape(rows, width), ends.reshape(rows, width)
    located = _dot_positions(buf, seps, starts, ends, rows)
    if located is None:  # a field with two dots
        return None
    dots, dotted = located
    whole = np.minimum(((dots - starts).max(axis=0) + 7) // 8, 3)  # words that hold the longest integer part
    fraction = np.where(dotted, np.minimum(((ends - dots).max(axis=0) + 6) // 8, 3), 0)  # ... and fraction
    kept = cols if columns is None else max(0, min(cols, columns))
    groups: dict[tuple[int, int], list[int]] = {}
    for c, key in enumerate(zip(whole[:kept].tolist(), fraction[:kept].tolist(), strict=True)):
        groups.setdefault(key, []).append(c)
    words_at = np.ndarray((buf.size - 7,), dtype="<u8", buffer=raw, strides=(1,))
    odd_grid = None if odd is None else odd.reshape(rows, width)
    out = np.empty((rows, kept))
    step = max(1, _BLOCK // max(kept, 1))
    try:
        unread = slice(kept, cols)
        flags = None if odd_grid is None else odd_grid[:, unread]
        if kept < cols and not _finite_numbers(buf, (starts[:, unread], dots[:, unread], ends[:, unread]), flags):
            return None
        for key, group in groups.items():
            pick = np.array(group)
            for r0 in range(0, rows, step):  # blocks that keep the temporaries in the CPU cache
                r1 = min(rows, r0 + step)
                # np.take: 2-D fancy indexing with a row slice is about 9x slower
                fields = tuple(np.take(a[r0:r1], pick, axis=1).ravel() for a in (starts, dots, ends))
                flags = None if odd_grid is None else np.take(odd_grid[r0:r1], pick, axis=1).ravel()
                values = _decimals(buf, words_at, fields, key, flags)  # type: ignore[arg-type]
                out[r0:r1, pick] = values.reshape(r1 - r0, pick.size)
    except ValueError:  # a field that is no number
        return None
    return out, np.arange(1, rows + 1)

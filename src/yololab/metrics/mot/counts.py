"""Counts that combine by summing, as TrackEval combines sequences: one ``+`` for every counts dataclass."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

C = TypeVar("C", bound="SummableCounts")

__all__ = ["SummableCounts"]


class SummableCounts:
    """Mixin for a dataclass of counts: ``a + b`` is the field-by-field sum (a new instance of the same class).

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass(frozen=True, slots=True)
        ... class Hits(SummableCounts):
        ...     tp: int = 0
        ...     fp: int = 0
        >>> Hits(1, 2) + Hits(3, 4)
        Hits(tp=4, fp=6)
    """

    __slots__ = ()

    def __add__(self: C, other: C) -> C:
        values: Any = (getattr(self, f.name) + getattr(other, f.name) for f in fields(self))  # type: ignore[arg-type]
        return type(self)(*values)

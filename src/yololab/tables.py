"""The one CSV writer: rows of named values as a table, columns in the order they first appear. Pure Python."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["rows_to_csv"]


def rows_to_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """CSV text (header + one line per row); nested values (lists, dicts) are left out, a missing value is empty.

    Example:
        >>> print(rows_to_csv([{"seq": "a", "hota": 0.5, "alphas": [1, 2]}, {"seq": "b", "mota": 0.25}]), end="")
        seq,hota,mota
        a,0.5,
        b,,0.25
    """
    columns = list(dict.fromkeys(k for row in rows for k, v in row.items() if not isinstance(v, (list, dict))))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()

"""Shared flattening of metric dataclasses into MLflow dictionaries and back."""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

T = TypeVar("T", bound="ScalarMetrics")

_MLFLOW_MAX = sys.float_info.max
"""MLflow stores +inf/-inf as +/-1.7976931348623157e308; reading back, that value means infinity."""


def from_mlflow_value(value: float) -> float:
    """Undo MLflow's storage of infinities (``±inf`` is stored as ``±float max``)."""
    if value == _MLFLOW_MAX:
        return math.inf
    if value == -_MLFLOW_MAX:
        return -math.inf
    return float(value)


class ScalarMetrics:
    """Mixin for dataclasses whose scalar fields map 1:1 to ``{prefix}.{field}`` keys.

    A field that is ``None`` (not measured) gives no key. Fields named in ``INT_FIELDS`` are counts and read
    back as ``int``. Non-scalar fields (dicts) are handled by the subclass.
    """

    INT_FIELDS: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def scalar_field_names(cls) -> list[str]:
        """Names of the scalar (float or int) fields, in declaration order."""
        return [f.name for f in dataclasses.fields(cls) if not str(f.type).startswith("dict")]  # type: ignore[arg-type]

    def _scalar_items(self, prefix: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for name in self.scalar_field_names():
            value = getattr(self, name)
            if value is not None:
                out[f"{prefix}.{name}"] = float(value)
        return out

    @classmethod
    def _scalar_kwargs(cls, values: Mapping[str, float], prefix: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        for name in cls.scalar_field_names():
            key = f"{prefix}.{name}"
            if key in values:
                value = from_mlflow_value(values[key])
                kwargs[name] = int(value) if name in cls.INT_FIELDS and math.isfinite(value) else value
        return kwargs

    def to_mlflow_dict(self, prefix: str) -> dict[str, float]:
        """``{prefix}.{field}: value`` for every measured scalar field."""
        return self._scalar_items(prefix)

    @classmethod
    def from_mlflow_dict(cls: type[T], values: Mapping[str, float], prefix: str) -> T:
        """Rebuild from the keys :meth:`to_mlflow_dict` wrote; other keys are ignored."""
        return cls(**cls._scalar_kwargs(values, prefix))

    def is_empty(self) -> bool:
        """True when nothing was measured (no key would be logged)."""
        return not self.to_mlflow_dict("x")


def sub_dict(values: Mapping[str, float], prefix: str) -> dict[str, float]:
    """Entries of ``values`` whose key starts with ``prefix + '.'``, with that prefix removed."""
    head = prefix + "."
    return {k[len(head) :]: v for k, v in values.items() if k.startswith(head)}

"""Names of a package imported from their modules on first use (PEP 562), so that importing the package is cheap."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_getattr"]


def lazy_getattr(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``name`` is imported from ``package.<homes[name]>`` and kept.

    Example (``yololab.metrics``):
        >>> import yololab.metrics
        >>> yololab.metrics.SystemMetrics.__module__
        'yololab.metrics.system'
    """
    namespace = sys.modules[package].__dict__

    def getattr_(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        namespace[name] = value  # found directly next time
        return value

    return getattr_

r"""Turning user data (class names, sequence names) into valid MLflow keys, deterministically.

MLflow accepts metric/param keys made of ``[/\w.\- :]`` (``\w`` is unicode-aware: letters of any script,
digits, ``_``), at most 250 characters, and rejects names that change under ``posixpath.normpath``. One bad key
rejects a whole batch, so every user-supplied name goes through :func:`to_mlflow_key` and, for a set of names,
:func:`class_key_map`, which also makes colliding names unique. Keys never contain ``/`` so that they cannot
be read as paths.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

MAX_KEY_LENGTH = 250
"""MLflow's limit for a metric or param key, in characters."""

MAX_NAME_KEY_LENGTH = 180
"""Budget for the part of a key that comes from user data; leaves room for prefixes like ``det.original.ap50.``."""

_FORBIDDEN = re.compile(r"[^\w.\- :]")
_ALLOWED_KEY = re.compile(r"^[/\w.\- :]*$")


def to_mlflow_key(name: str, *, max_length: int = MAX_NAME_KEY_LENGTH) -> str:
    """Map one user-supplied name to a string that is valid inside an MLflow key.

    Unicode letters and digits, ``_ . - :`` and space are kept; every other character (``/ ( ) % @ # + , '`` ...)
    becomes ``_``. Leading/trailing spaces and dots are stripped (``"."`` and ``".."`` would be path-like). An empty
    result becomes ``"_"``. A name longer than ``max_length`` is cut and given an 8-hex-digit SHA-1 suffix of the
    original name, so that two long names sharing a prefix stay distinct.

    Example:
        >>> to_mlflow_key("person (0.5)")
        'person _0.5_'
        >>> to_mlflow_key("가방")
        '가방'
    """
    key = _FORBIDDEN.sub("_", name).strip(" .") or "_"
    if len(key) > max_length:
        digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
        key = f"{key[: max_length - 9]}_{digest}"
    return key


def class_key_map(names: Iterable[str], *, max_length: int = MAX_NAME_KEY_LENGTH) -> dict[str, str]:
    """Map each distinct name to a unique valid key, in the order the names come.

    Names mapping to the same key get ``_2``, ``_3``, ... suffixes in order of appearance, so the mapping is
    deterministic for the same input order (pass class names in class-index order).

    Example:
        >>> class_key_map(["a/b", "a_b"])
        {'a/b': 'a_b', 'a_b': 'a_b_2'}
    """
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        if name in mapping:
            continue
        base = to_mlflow_key(name, max_length=max_length)
        key, n = base, 1
        while key in used:
            n += 1
            suffix = f"_{n}"
            key = base[: max_length - len(suffix)] + suffix
        mapping[name] = key
        used.add(key)
    return mapping


def is_valid_mlflow_key(key: str) -> bool:
    """True when MLflow would accept ``key`` as a metric or param name (charset, length, not path-like)."""
    import posixpath

    if not key or len(key) > MAX_KEY_LENGTH or not _ALLOWED_KEY.match(key):
        return False
    norm = posixpath.normpath(key)
    return norm == key and norm != "." and not norm.startswith("..") and not norm.startswith("/")

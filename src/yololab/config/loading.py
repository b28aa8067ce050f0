"""Reading configs: a YAML file (or mapping) with dotted-path overrides, validated into an experiment."""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import ValidationError

from yololab.config.errors import ConfigError, ConfigIssue, issues_from_validation, yaml_lines
from yololab.config.schema import EXPERIMENT_ADAPTER, ExperimentConfig, ExperimentKind

__all__ = ["apply_overrides", "default_config_path", "load_config", "parse_config", "parse_set_option"]


def _split_path(path: str) -> list[str]:
    parts = path.split(".")
    if not path or any(not p for p in parts):
        raise ValueError(f"expected a dotted field path such as 'train.epochs', got {path!r}")
    return parts


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any], source: str = "<overrides>") -> dict:
    """Return a deep copy of ``data`` with each ``{"a.b.c": value}`` set (intermediate mappings are created).

    Raises:
        ConfigError: A path is malformed or goes through a value that is not a mapping.
    """
    result: dict[str, Any] = json.loads(json.dumps(data, default=str)) if data else {}
    for path, value in overrides.items():
        try:
            parts = _split_path(path)
        except ValueError as err:
            raise ConfigError(
                source, [ConfigIssue(str(path), value, str(err).removeprefix("expected "), override=True)]
            ) from None
        node = result
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                where = ".".join(parts[: i + 1])
                issue = ConfigIssue(path, value, f"a path through sections, but {where} is {child!r}", override=True)
                raise ConfigError(source, [issue])
            node = child
        node[parts[-1]] = value
    return result


def parse_config(
    data: Mapping[str, Any] | None,
    overrides: Mapping[str, Any] | None = None,
    *,
    source: str | Path = "<mapping>",
    _lines: Mapping[str, int] | None = None,
) -> ExperimentConfig:
    """Validate a config given as a mapping (as read from YAML), after applying dotted-path ``overrides``.

    Raises:
        ConfigError: The config is invalid; every invalid field is listed.
    """
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(source, f"expected a mapping of fields at the top level, got {type(data).__name__}")
    overrides = dict(overrides or {})
    merged = apply_overrides(data or {}, overrides, str(source))
    try:
        return EXPERIMENT_ADAPTER.validate_python(merged)
    except ValidationError as err:
        raise ConfigError(source, issues_from_validation(err, merged, overrides, _lines or {})) from None


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> ExperimentConfig:
    r"""Read and validate an experiment config file, applying dotted-path overrides first.

    Args:
        path: YAML file.
        overrides: Values by dotted field path, e.g. ``{"train.epochs": 3, "tracking.uri": "http://host:5000"}``;
            they win over the file.

    Returns:
        The validated config.

    Raises:
        ConfigError: The file cannot be read, is not valid YAML (file and line given) or does not validate (file,
            field, value, expectation and line given).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.yaml"
        >>> _ = p.write_text("kind: train\ntrain: {epochs: 5}\n")
        >>> load_config(p, {"train.epochs": 3}).train.epochs
        3
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(path, f"cannot read the config file ({err.strerror or err})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        context = getattr(err, "context", None)
        detail = f"{problem} ({context})" if context else problem
        raise ConfigError(path, f"{where}invalid YAML: {detail}") from None
    return parse_config(data, overrides, source=path, _lines=yaml_lines(text))


def parse_set_option(option: str) -> tuple[str, Any]:
    """Parse a ``--set PATH=VALUE`` option; the value is read as YAML (``3`` is an int, ``[1, 2]`` a list).

    Example:
        >>> parse_set_option("train.epochs=3")
        ('train.epochs', 3)
        >>> parse_set_option("tracking.uri=http://h:5000")
        ('tracking.uri', 'http://h:5000')

    Raises:
        ValueError: No ``=``, an empty or malformed path, or a value that is not valid YAML.
    """
    path, sep, raw = option.partition("=")
    path = path.strip()
    if not sep:
        raise ValueError(f"expected PATH=VALUE such as 'train.epochs=3', got {option!r}")
    _split_path(path)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: the value {raw!r} is not valid YAML ({getattr(err, 'problem', err)})") from None
    return path, value


def default_config_path(kind: ExperimentKind) -> Path:
    """Path of the example config shipped with yololab for ``kind`` (``configs/<kind>.yaml`` package data)."""
    if kind not in get_args(ExperimentKind):
        raise ValueError(f"expected one of {', '.join(get_args(ExperimentKind))}, got {kind!r}")
    return Path(str(resources.files("yololab").joinpath("configs", f"{kind}.yaml")))

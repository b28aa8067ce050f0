"""Config errors: pydantic's validation errors translated into the field, the value, what was expected, the line.

Every problem of a config becomes a :class:`ConfigIssue`; a :class:`ConfigError` lists them with the file.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from yololab.config.schema import EXPERIMENTS

__all__ = ["ConfigError", "ConfigIssue", "issues_from_validation", "yaml_lines"]

KINDS_EXPECTED = "'train', 'infer', 'quant' or 'bench'"


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a config: the field (dotted path), the value given, what was expected, where."""

    field: str
    value: Any
    expected: str
    line: int | None = None
    override: bool = False

    def __str__(self) -> str:
        where = " (from an override)" if self.override else (f" (line {self.line})" if self.line else "")
        shown = "nothing" if self.value is _MISSING else repr(self.value)
        return f"{self.field}{where}: got {shown}; expected {self.expected}"


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the file, field, value and expectation.

    Attributes:
        source: The file (or ``<mapping>``) the config came from.
        issues: The problems found, one per field.
    """

    def __init__(self, source: str | Path, issues: Sequence[ConfigIssue] | str) -> None:
        self.source = str(source)
        self.issues: list[ConfigIssue] = [] if isinstance(issues, str) else list(issues)
        if isinstance(issues, str):
            message = f"{self.source}: {issues}"
        elif len(self.issues) == 1:
            message = f"{self.source}: {self.issues[0]}"
        else:
            lines = "\n".join(f"  - {issue}" for issue in self.issues)
            message = f"{self.source}: {len(self.issues)} invalid fields:\n{lines}"
        super().__init__(message)


class _Missing:
    def __repr__(self) -> str:
        return "nothing"


_MISSING: Any = _Missing()


def _dotted(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_at(loc: Sequence[int | str], kind: str) -> type[BaseModel] | None:
    """The pydantic model holding the field at ``loc`` in a ``kind`` experiment (for 'did you mean')."""
    model: Any = EXPERIMENTS.get(kind)
    if model is None:
        return None
    for part in loc[:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            return None
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return None
    return model


def _expectation(error: Mapping[str, Any], experiment_kind: str) -> str:
    kind, msg, loc = error["type"], str(error["msg"]), error["loc"]
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return f"one of {KINDS_EXPECTED}" + (" (this field is required)" if kind == "union_tag_not_found" else "")
    if kind == "extra_forbidden":
        model = _model_at(loc, experiment_kind)
        if model is None:
            return "no such field"
        known = list(model.model_fields)
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"no such field{hint}; known fields: {', '.join(known)}"
    if kind == "missing":
        return "a value (this field is required)"
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    if msg.startswith("expected "):  # our validators say "expected X, got Y": the value is shown separately
        msg = re.sub(r", got .*$", "", msg[len("expected ") :], flags=re.DOTALL)
    msg = re.sub(r"^Input should (be )?", "", msg)
    return msg


def yaml_lines(text: str) -> dict[str, int]:
    """Map each dotted path of a YAML document to the 1-based line its key (or item) is on."""
    lines: dict[str, int] = {}

    def walk(node: yaml.Node, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = f"{path}.{key.value}" if path else str(key.value)
                lines[sub] = key.start_mark.line + 1
                walk(value, sub)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                sub = f"{path}[{i}]"
                lines[sub] = item.start_mark.line + 1
                walk(item, sub)

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, "")
    return lines


def _value_at(data: Any, loc: Sequence[int | str]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return data


def issues_from_validation(
    err: ValidationError, merged: Mapping[str, Any], overrides: Mapping[str, Any], lines: Mapping[str, int]
) -> list[ConfigIssue]:
    """One :class:`ConfigIssue` per invalid field of ``merged`` (the config after overrides).

    The discriminated union puts the ``kind`` first in each error's location (``('train', 'train', 'epochs')``): it
    is dropped, so that a field is named as the user wrote it. A missing or unknown ``kind`` is an issue of ``kind``.
    """
    kind = str(merged.get("kind", ""))
    grouped: dict[str, tuple[Any, list[str]]] = {}
    for error in err.errors(include_url=False):
        loc = list(error["loc"])
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = ["kind"]
        elif loc and loc[0] == kind:
            loc = loc[1:]
        if error["type"] != "missing":  # drop union-member tags such as ('train', 'cache', 'bool')
            while len(loc) > 1 and _value_at(merged, loc) is _MISSING:
                loc.pop()
        field = _dotted(loc)
        value = _value_at(merged, loc) if loc else merged
        expected = _expectation({**error, "loc": tuple(loc)}, kind)
        if field in grouped:
            if expected not in grouped[field][1]:
                grouped[field][1].append(expected)
        else:
            grouped[field] = (value, [expected])
    issues = []
    for field, (value, expectations) in grouped.items():
        from_override = any(
            field == p or field.startswith((f"{p}.", f"{p}[")) or p.startswith(f"{field}.") for p in overrides
        )
        line = None if from_override else lines.get(field)
        issues.append(ConfigIssue(field, value, " or ".join(expectations), line=line, override=from_override))
    return issues

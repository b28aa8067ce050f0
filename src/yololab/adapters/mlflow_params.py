"""What a run records about its config: MLflow params with secrets redacted, and the tracking URI in effect.

The one place that decides which tracking URI is used (:func:`resolve_tracking_uri`: the config's, else
``MLFLOW_TRACKING_URI``, else MLflow's default ``sqlite:///mlflow.db``, a relative SQLite path made absolute), and
the one place that decides what is a secret (:func:`is_secret_name`, :func:`redact_value`, :func:`redact_field`,
:func:`split_credentials`): the recorder (params, tags, warnings, failure reasons), the journal (URIs without
userinfo), ``yololab sync`` and the params all go through these.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

if TYPE_CHECKING:
    from yololab.config import ExperimentConfig

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
"""MLflow's own default store (since 3.7; SPEC §5), used when neither config nor ``MLFLOW_TRACKING_URI`` names one."""

REDACTED = "***"
"""What a secret is replaced by."""

__all__ = [
    "DEFAULT_TRACKING_URI",
    "REDACTED",
    "config_to_params",
    "is_secret_name",
    "redact_field",
    "redact_value",
    "redacted_config",
    "resolve_tracking_uri",
    "split_credentials",
]


def resolve_tracking_uri(tracking_uri: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The URI to use: the argument, else ``MLFLOW_TRACKING_URI``, else :data:`DEFAULT_TRACKING_URI`.

    A relative SQLite path is made absolute, so that a journal replays into the same file from any directory and the
    logged ``tracking.uri`` is the store really used.

    Example:
        >>> resolve_tracking_uri("http://h:5000"), resolve_tracking_uri(None, {"MLFLOW_TRACKING_URI": "http://e"})
        ('http://h:5000', 'http://e')
    """
    env = os.environ if environ is None else environ
    uri = tracking_uri or env.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        uri = prefix + str(Path(uri[len(prefix) :]).resolve())
    return uri


_SECRET_WORDS = frozenset(
    {
        "token",
        "tokens",
        "password",
        "passwords",
        "passwd",
        "pwd",
        "secret",
        "secrets",
        "key",
        "keys",
        "apikey",
        "credential",
        "credentials",
    }
)
_URI_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^/@:\s]*:)(?P<password>[^/@\s]+)(?=@)")
_QUERY_PARAM = re.compile(r"(?P<head>[?&;](?P<name>[^=&;#\s]+)=)(?P<value>[^&;#\s]*)")


def _words(name: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def is_secret_name(name: str) -> bool:
    """Whether a field name says it holds a secret: one of its words is token/password/secret/key (or plural, etc.).

    Names are split into words at ``_ - . /``, spaces and camelCase, so ``api_key``, ``apiKey``, ``AUTH_TOKEN`` and
    ``db-password`` are secret while ``keypoints``, ``monkey`` and ``tokenizer`` are not (``key_points`` is, by rule).

    Example:
        >>> [is_secret_name(n) for n in ("api_key", "apiKey", "keypoints", "access_token", "tokenizer")]
        [True, True, False, True, False]
    """
    return any(word in _SECRET_WORDS for word in _words(name))


def redact_value(value: str) -> str:
    """Hide passwords inside URIs (``http://user:pw@host`` -> ``http://user:***@host``) and secret query params.

    Example:
        >>> redact_value("postgresql://bob:hunter2@db:5432/mlflow?sslmode=require&token=abc")
        'postgresql://bob:***@db:5432/mlflow?sslmode=require&token=***'
    """
    if "://" not in value and "=" not in value:
        return value
    value = _URI_PASSWORD.sub(lambda m: m["head"] + REDACTED, value)
    return _QUERY_PARAM.sub(lambda m: m["head"] + REDACTED if is_secret_name(m["name"]) else m[0], value)


def redact_field(name: str, value: Any) -> str:
    """What to record for the field ``name`` holding ``value``: the one redaction rule of params *and* tags.

    :data:`REDACTED` when any dotted segment of ``name`` is a secret name (:func:`is_secret_name`), else
    :func:`redact_value` of the value as text.

    Example:
        >>> redact_field("tags.api_key", "SEKRET"), redact_field("note", "see http://u:pw@h"), redact_field("lr", 0.1)
        ('***', 'see http://u:***@h', '0.1')
    """
    if any(is_secret_name(segment) for segment in str(name).split(".")):
        return REDACTED
    return redact_value(value if isinstance(value, str) else str(value))


def split_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """Split ``scheme://user:password@host/...`` into the URI without its userinfo, the user and the password.

    User and password come back percent-decoded (``p%40ss`` -> ``p@ss``), ``None`` when absent. URIs without a
    network location (``sqlite:///...``, paths) come back unchanged. The recorder writes only the first part anywhere
    (journal, warnings, params) and hands the credentials to MLflow through ``MLFLOW_TRACKING_USERNAME`` /
    ``MLFLOW_TRACKING_PASSWORD`` of its own process.

    Example:
        >>> split_credentials("http://admin:p%40ss@mlflow:5000/path")
        ('http://mlflow:5000/path', 'admin', 'p@ss')
        >>> split_credentials("sqlite:////tmp/mlflow.db")
        ('sqlite:////tmp/mlflow.db', None, None)
    """
    if "://" not in uri:
        return uri, None, None
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri, None, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return clean, (unquote(user) or None), (unquote(password) if colon else None)


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key, sub in value.items():
            _flatten(sub, f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = value


def _as_param(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return json.dumps(value)
    return str(value)


def config_to_params(config: ExperimentConfig, *, resolve_uri: bool = True) -> dict[str, str]:
    """Flatten a config into MLflow params (dotted keys, string values), secrets redacted.

    * Keys are dotted field paths (``train.epochs``, ``data.synthetic.seed``); ``None`` values and empty sections
      are left out; lists are JSON (``[160, 160]``), booleans ``true``/``false``.
    * Any key with a path segment that :func:`is_secret_name` flags has its value replaced by ``***``.
    * Every string value goes through :func:`redact_value` (URI passwords, secret query parameters).
    * ``tracking.uri`` is the URI in effect (:func:`resolve_tracking_uri`, the one the recorder uses) unless
      ``resolve_uri`` is false.

    Example:
        >>> from yololab.config import parse_config
        >>> cfg = parse_config({"kind": "infer", "tracking": {"uri": "http://u:pw@h:5000"}, "tags": {"api_key": "x"}})
        >>> p = config_to_params(cfg)
        >>> p["tracking.uri"], p["tags.api_key"], p["kind"]
        ('http://u:***@h:5000', '***', 'infer')
    """
    data = config.model_dump(mode="json")
    if resolve_uri:
        data["tracking"]["uri"] = resolve_tracking_uri(config.tracking.uri)
    flat: dict[str, Any] = {}
    _flatten(data, "", flat)
    params: dict[str, str] = {}
    for key, value in flat.items():
        if value is None or value == {}:
            continue
        params[key] = redact_field(key, _as_param(value))
    return params


def redacted_config(config: ExperimentConfig) -> dict[str, Any]:
    """The resolved config as a nested mapping (as YAML would hold it), secrets redacted as in the params.

    Example:
        >>> from yololab.config import parse_config
        >>> cfg = parse_config({"kind": "infer", "tracking": {"uri": "http://u:pw@h:5000"}, "tags": {"api_key": "x"}})
        >>> out = redacted_config(cfg)
        >>> out["tracking"]["uri"], out["tags"]["api_key"], out["infer"]["iterations"]
        ('http://u:***@h:5000', '***', 100)
    """

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, Mapping):
            return {k: walk(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
        if any(is_secret_name(segment) for segment in path.split(".")) and value is not None:
            return REDACTED
        if isinstance(value, str):
            return redact_value(value)
        if isinstance(value, list):
            return [walk(v, path) for v in value]
        return value

    return walk(config.model_dump(mode="json"), "")

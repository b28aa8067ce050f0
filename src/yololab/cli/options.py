"""The command line's shortcut options and how they become config overrides.

``--epochs 3`` is ``train.epochs``; :data:`OPTION_PATHS` is the one table of such shortcuts, and
:func:`overrides_from_cli` turns the options a command received (plus its ``--set PATH=VALUE`` options) into the
dotted-path overrides that :func:`yololab.config.load_config` applies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from yololab.config import parse_set_option

__all__ = ["OPTION_PATHS", "overrides_from_cli"]


OPTION_PATHS: dict[str, str] = {
    "experiment": "experiment",
    "run_name": "run_name",
    "tracking_uri": "tracking.uri",
    "offline": "tracking.offline",
    "model": "model",
    "device": "device",
    "imgsz": "imgsz",
    "seed": "seed",
    "output_dir": "output_dir",
    "data": "data.yaml",
    "mot_dir": "data.mot_dir",
    "epochs": "train.epochs",
    "batch": "train.batch",
    "workers": "train.workers",
    "iterations": "infer.iterations",
    "warmup": "infer.warmup",
    "batch_size": "infer.batch_size",
    "threads": "infer.threads",
    "track": "infer.tracking.enabled",
    "tracker": "infer.tracking.tracker",
    "method": "quant.method",
    "calibration_size": "quant.calibration_size",
    "formats": "bench.formats",
}
"""CLI option name -> field path, for commands offering shortcut options (``--epochs 3`` = ``train.epochs``)."""


def overrides_from_cli(options: Mapping[str, Any], set_options: Sequence[str] = ()) -> dict[str, Any]:
    """Build overrides from CLI shortcut options (``None`` = not given) and ``--set PATH=VALUE`` options.

    Shortcut names are looked up in :data:`OPTION_PATHS` (unknown names are taken as field paths); ``--set`` wins.
    ``data`` given as a path means ``data.yaml``, so the synthetic section is dropped (``data.synthetic=None``).

    Example:
        >>> overrides_from_cli({"epochs": 3, "device": None}, ["train.batch=8"])
        {'train.epochs': 3, 'train.batch': 8}
    """
    result: dict[str, Any] = {}
    for name, value in options.items():
        if value is None:
            continue
        path = OPTION_PATHS.get(name, name)
        if path == "data.yaml":
            result["data.synthetic"] = None
        result[path] = str(value) if isinstance(value, Path) else value
    for option in set_options:
        path, value = parse_set_option(option)
        result[path] = value
    return result

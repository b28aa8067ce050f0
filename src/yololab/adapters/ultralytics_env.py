"""Run Ultralytics without touching the network: environment switches, a local font, integrations off.

Ultralytics reads ``YOLO_OFFLINE``, ``YOLO_AUTOINSTALL`` and ``YOLO_CONFIG_DIR`` once, when it is first imported, so
:func:`prepare_ultralytics_offline` must run before ``import ultralytics`` to take full effect (it still places the
font and updates the settings when Ultralytics is already imported, and says so in a warning).

What each step avoids (read from ultralytics 8.4 sources):

* ``YOLO_OFFLINE=1`` makes ``is_online()`` return False without a DNS query, so no hub/asset calls are attempted.
* ``YOLO_AUTOINSTALL=False`` stops ``check_requirements`` from pip-installing packages at run time (onnxslim,
  onnxruntime-gpu, openvino ...).
* ``YOLO_CONFIG_DIR`` points the settings file and user fonts at a private folder (``<dir>/Ultralytics``), not at
  the user's ``~/.config``.
* ``check_font("Arial.ttf")`` runs on every dataset load and ignores ``YOLO_OFFLINE``: it looks in
  ``USER_CONFIG_DIR`` (= ``$YOLO_CONFIG_DIR/Ultralytics``), then matplotlib's font list, then downloads. We copy
  matplotlib's DejaVuSans there as ``Arial.ttf`` and ``Arial.Unicode.ttf`` (plots stay readable).
* Settings ``sync``, ``hub``, ``mlflow``, ``clearml``, ``comet``, ``dvc``, ``wandb``, ``tensorboard``, ``raytune``
  are switched off: no analytics, and no integration logs into yololab's MLflow run behind its back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
"""Font files Ultralytics may look for (``check_font``)."""

DISABLED_SETTINGS = {
    "sync": False,
    "hub": False,
    "mlflow": False,
    "clearml": False,
    "comet": False,
    "dvc": False,
    "wandb": False,
    "tensorboard": False,
    "raytune": False,
    "vscode_msg": False,
    "openvino_msg": False,
}
"""Ultralytics settings switched off (keys absent from the installed version's settings are skipped)."""


def default_config_dir() -> Path:
    """Where yololab keeps Ultralytics' settings when nobody chose: ``$YOLOLAB_HOME/ultralytics`` or a temp folder.

    An existing ``YOLO_CONFIG_DIR`` always wins (see :func:`prepare_ultralytics_offline`).
    """
    home = os.environ.get("YOLOLAB_HOME")
    if home:
        return Path(home).expanduser() / "ultralytics"
    return Path(tempfile.gettempdir()) / f"yololab-ultralytics-{os.getuid() if hasattr(os, 'getuid') else 'user'}"


def _local_font() -> Path | None:
    """A TrueType font shipped with matplotlib (an Ultralytics dependency), found without importing matplotlib."""
    import importlib.util

    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        font = Path(location) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        if font.is_file():
            return font
    return None


def place_fonts(user_config_dir: Path) -> list[Path]:
    """Copy a local ``.ttf`` into ``user_config_dir`` under the names Ultralytics looks for; existing files stay.

    Args:
        user_config_dir: Ultralytics' ``USER_CONFIG_DIR`` (``$YOLO_CONFIG_DIR/Ultralytics``).

    Returns:
        The font paths now present (empty when no local font was found: Ultralytics would then try a download).
    """
    user_config_dir.mkdir(parents=True, exist_ok=True)
    source = _local_font()
    placed = []
    for name in FONT_NAMES:
        target = user_config_dir / name
        if not target.exists() and source is not None:
            tmp = target.with_suffix(f".{os.getpid()}.tmp")
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)  # atomic: parallel processes never see half a font
        if target.exists():
            placed.append(target)
    return placed


def _patch_imported_flags() -> None:
    """Ultralytics copies ``ONLINE``/``AUTOINSTALL`` into module globals at import: switch the loaded copies off."""
    for name in (
        "ultralytics.utils",
        "ultralytics.utils.checks",
        "ultralytics.utils.events",
        "ultralytics.utils.export.tensorflow",
    ):
        module = sys.modules.get(name)
        for flag in ("ONLINE", "AUTOINSTALL"):
            if module is not None and hasattr(module, flag):
                setattr(module, flag, False)


def prepare_ultralytics_offline(config_dir: Path | None = None) -> None:
    """Make Ultralytics run offline and quietly; idempotent, call it before ``import ultralytics``.

    Sets ``YOLO_OFFLINE=1``, ``YOLO_AUTOINSTALL=False`` and ``YOLO_CONFIG_DIR`` (to ``config_dir``; when omitted an
    existing ``YOLO_CONFIG_DIR`` is kept, else :func:`default_config_dir`), copies a local font to
    ``$YOLO_CONFIG_DIR/Ultralytics/Arial.ttf`` (and ``Arial.Unicode.ttf``) so that ``check_font`` never downloads,
    and switches off sync and the integrations in Ultralytics' settings (:data:`DISABLED_SETTINGS`).

    Args:
        config_dir: Folder for Ultralytics' settings (``YOLO_CONFIG_DIR``).
    """
    already_imported = "ultralytics" in sys.modules
    if config_dir is not None:
        config_path = Path(config_dir).expanduser().resolve()
    elif os.environ.get("YOLO_CONFIG_DIR"):
        config_path = Path(os.environ["YOLO_CONFIG_DIR"]).expanduser().resolve()
    else:
        config_path = default_config_dir()
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "False"
    os.environ["YOLO_CONFIG_DIR"] = str(config_path)

    user_config_dir = config_path / "Ultralytics"
    if already_imported:
        _patch_imported_flags()
        from ultralytics.utils import USER_CONFIG_DIR

        if Path(USER_CONFIG_DIR).resolve() != user_config_dir:
            warnings.warn(
                f"ultralytics was imported before prepare_ultralytics_offline(); it keeps its config dir "
                f"{USER_CONFIG_DIR} (fonts are placed there too)",
                RuntimeWarning,
                stacklevel=2,
            )
            place_fonts(Path(USER_CONFIG_DIR))
    place_fonts(user_config_dir)

    from ultralytics.utils import SETTINGS

    wanted = {k: v for k, v in DISABLED_SETTINGS.items() if k in SETTINGS and SETTINGS[k] != v}
    if wanted:
        SETTINGS.update(wanted)


__all__ = ["DISABLED_SETTINGS", "FONT_NAMES", "default_config_dir", "place_fonts", "prepare_ultralytics_offline"]


@contextlib.contextmanager
def ultralytics_log_level(level: int = logging.WARNING) -> Iterator[None]:
    """Quiet Ultralytics' logger (and with it its progress bars, which it disables above INFO) inside the block.

    yololab shows its own progress, one line per epoch/step, which reads well in a terminal and in a log file;
    Ultralytics' carriage-return bars do not.
    """
    from ultralytics.utils import LOGGER

    previous = LOGGER.level
    LOGGER.setLevel(level)
    try:
        yield
    finally:
        LOGGER.setLevel(previous)

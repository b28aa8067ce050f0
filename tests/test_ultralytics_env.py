"""prepare_ultralytics_offline: environment, font and settings, checked in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import json, os, sys
from pathlib import Path
from yololab.adapters.ultralytics_env import prepare_ultralytics_offline
prepare_ultralytics_offline(Path(sys.argv[1]))
prepare_ultralytics_offline(Path(sys.argv[1]))  # idempotent
from ultralytics.utils import ONLINE, SETTINGS, USER_CONFIG_DIR
from ultralytics.utils.checks import check_font
print(json.dumps({
    "env": [os.environ["YOLO_OFFLINE"], os.environ["YOLO_AUTOINSTALL"], os.environ["YOLO_CONFIG_DIR"]],
    "online": ONLINE, "user_dir": str(USER_CONFIG_DIR), "font": str(check_font("Arial.ttf")),
    "settings": {k: SETTINGS.get(k) for k in ("sync", "mlflow", "clearml", "comet")},
}))
"""


@pytest.mark.quick
def test_offline_setup_in_a_fresh_interpreter(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=120, check=True
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["env"] == ["1", "False", str(tmp_path.resolve())]
    assert result["online"] is False
    assert result["user_dir"] == str(tmp_path.resolve() / "Ultralytics")
    assert result["font"] == str(tmp_path.resolve() / "Ultralytics" / "Arial.ttf")
    assert result["settings"] == {"sync": False, "mlflow": False, "clearml": False, "comet": False}

"""The layering, checked: each layer is imported in a fresh interpreter, and what must stay out stays out.

``cli -> runners -> adapters -> metrics``: the pure layers (the metric math, the config schema, the class map, the
data-file readers) import no foreign runtime; ``yololab eval-mot`` starts without OpenCV, torch, Ultralytics or
MLflow.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.quick

FOREIGN = ("ultralytics", "mlflow", "pynvml", "torch", "cv2", "onnxruntime", "onnx", "pandas", "psutil", "openvino")
"""Libraries only adapters may import."""

PURE_LAYERS = {
    "metrics": ["yololab.metrics"],  # every module below it is imported, see _imported
    "config": ["yololab.config"],
    "classmap": ["yololab.classmap"],
    "data-readers": ["yololab.data.yolo_dataset", "yololab.data.sequences", "yololab.data.synthetic_config"],
}


def _loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _import_all(packages: list[str]) -> str:
    """Code importing each module and, for a package, every module below it."""
    return (
        "import importlib, pkgutil\n"
        f"for name in {packages!r}:\n"
        "    mod = importlib.import_module(name)\n"
        "    for info in pkgutil.walk_packages(getattr(mod, '__path__', []), name + '.'):\n"
        "        importlib.import_module(info.name)\n"
    )


@pytest.mark.parametrize("layer", sorted(PURE_LAYERS))
def test_pure_layer_imports_no_foreign_runtime(layer: str) -> None:
    loaded = _loaded_after(_import_all(PURE_LAYERS[layer]))
    assert "yololab" in loaded
    found = sorted(set(FOREIGN) & set(loaded))
    assert not found, f"layer {layer} loads {found}"


def test_eval_mot_starts_without_heavy_imports() -> None:
    code = (
        "import sys\n"
        "sys.argv = ['yololab', 'eval-mot', '--help']\n"
        "from yololab.cli import app\n"
        "try:\n"
        "    app()\n"
        "except SystemExit:\n"
        "    pass\n"
    )
    loaded = _loaded_after(code)
    found = sorted({"cv2", "torch", "ultralytics", "mlflow", "pandas", "onnxruntime"} & set(loaded))
    assert not found, f"yololab eval-mot --help loads {found}"


def test_imports_point_down_only() -> None:
    """No module imports from a layer above its own (the rule and the layers: scripts/import_graph.py)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "import_graph.py"
    spec = importlib.util.spec_from_file_location("import_graph", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    edges = module.graph()
    assert len(edges) > 40 and sum(map(len, edges.values())) > 100, "the graph was read"
    assert module.upward(edges) == []

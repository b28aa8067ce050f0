"""Quantization adapter: calibration preprocessing (oracle: Ultralytics LetterBox), head exclusion, every CPU method.

The slow tests train a 1-epoch yolo11n on generated coloured shapes (mAP ~0: they check that each artifact loads,
runs and validates, and its size, never accuracy; accuracy is measured in docs/quantization.md). The same model,
exported by Ultralytics itself at opset 13 and 22 with fixed or dynamic axes and with or without metadata (what a
user brings from elsewhere), is quantized with every ONNX method; there the FP32 and INT8 outputs are compared
directly. tests/test_foreign_onnx.py covers hand-built graphs per opset, the unservable cases and a real pretrained
checkpoint (where accuracy can be compared).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from yololab.adapters.ultralytics_env import prepare_ultralytics_offline

prepare_ultralytics_offline(Path(os.environ.get("YOLO_CONFIG_DIR") or tempfile.mkdtemp(prefix="yololab-ul-")))

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper  # noqa: E402

from yololab.adapters import quantization as q  # noqa: E402

IMGSZ = 64
NAMES = ("square", "circle", "triangle")
CPU_METHODS = ("onnx-int8-static", "onnx-int8-dynamic", "onnx-fp16", "ultralytics-int8")
# FP32 size / quantized size on yolo11n (measured: 3.4, 3.7, 2.0, 3.6): INT8 weights are 1/4 of FP32, plus scales,
# zero points, int32 biases and the float head.
SIZE_RATIO = {
    "onnx-int8-static": (3.0, 4.5),
    "onnx-int8-dynamic": (3.0, 4.5),
    "onnx-fp16": (1.8, 2.1),
    "ultralytics-int8": (3.0, 4.5),
}


# ------------------------------------------------------------------------------------------------ data and models
def _draw_shapes(rng: np.random.Generator, size: int) -> tuple[np.ndarray, list[str]]:
    """One image with 1-3 filled shapes (class 0 square, 1 circle, 2 triangle) and its YOLO label lines."""
    img = np.full((size, size, 3), rng.integers(0, 80, 3), dtype=np.uint8)
    lines = []
    for _ in range(int(rng.integers(1, 4))):
        cls, side = int(rng.integers(0, 3)), int(rng.integers(size // 6, size // 3))
        cx, cy = (int(v) for v in rng.integers(side // 2 + 1, size - side // 2 - 1, 2))
        color = tuple(int(v) for v in rng.integers(120, 256, 3))
        x1, y1, x2, y2 = cx - side // 2, cy - side // 2, cx + side // 2, cy + side // 2
        if cls == 0:
            cv2.rectangle(img, (x1, y1), (x2, y2), color, -1)
        elif cls == 1:
            cv2.circle(img, (cx, cy), side // 2, color, -1)
        else:
            cv2.fillPoly(img, [np.array([[cx, y1], [x1, y2], [x2, y2]], np.int32)], color)
        lines.append(f"{cls} {cx / size:.6f} {cy / size:.6f} {(x2 - x1) / size:.6f} {(y2 - y1) / size:.6f}")
    return img, lines


def _make_dataset(root: Path, *, n_train: int = 32, n_val: int = 8, size: int = 96) -> Path:
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("val", n_val)):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for i in range(n):
            img, lines = _draw_shapes(rng, size)
            cv2.imwrite(str(root / "images" / split / f"{i:03d}.jpg"), img)
            (root / "labels" / split / f"{i:03d}.txt").write_text("\n".join(lines) + "\n")
    names = "".join(f"  {i}: {n}\n" for i, n in enumerate(NAMES))
    (root / "data.yaml").write_text(f"path: {root}\ntrain: images/train\nval: images/val\nnames:\n{names}")
    return root / "data.yaml"


@pytest.fixture(scope="session")
def data_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make_dataset(tmp_path_factory.mktemp("shapes"))


@pytest.fixture(scope="session")
def train_images(data_yaml: Path) -> list[Path]:
    return sorted((data_yaml.parent / "images" / "train").glob("*.jpg"))


@pytest.fixture(scope="session")
def tiny_pt(data_yaml: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """yolo11n from its YAML, trained 1 epoch at 64 px (seconds; it has learned nothing)."""
    from ultralytics import YOLO

    project = tmp_path_factory.mktemp("train")
    YOLO("yolo11n.yaml").train(
        data=str(data_yaml), epochs=1, imgsz=IMGSZ, batch=8, workers=0, device="cpu", plots=False, val=False,
        project=str(project), name="run", verbose=False,
    )  # fmt: skip
    return project / "run" / "weights" / "last.pt"


@pytest.fixture(scope="session")
def fp32_onnx(tiny_pt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return q.export_onnx_fp32(tiny_pt, tmp_path_factory.mktemp("fp32"), imgsz=IMGSZ)


def _tiny_head_graph() -> onnx.ModelProto:
    """A hand-built graph with Ultralytics-style names: backbone Conv/Mul in model.0, head in model.2."""
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["a"], name="/model.0/conv/Conv"),
        helper.make_node("Sigmoid", ["a"], ["s"], name="/model.0/act/Sigmoid"),
        helper.make_node("Mul", ["a", "s"], ["b"], name="/model.0/act/Mul"),
        helper.make_node("Conv", ["b", "w2"], ["c"], name="/model.2/cv2.0/Conv"),
        helper.make_node("Sigmoid", ["c"], ["d"], name="/model.2/Sigmoid"),
        helper.make_node("Concat", ["c", "d"], ["e"], name="/model.2/Concat", axis=1),
        helper.make_node("Identity", ["e"], ["y"], name="post_Identity"),
    ]
    inits = [
        helper.make_tensor("w", TensorProto.FLOAT, [1, 1, 1, 1], [1.0]),
        helper.make_tensor("w2", TensorProto.FLOAT, [1, 1, 1, 1], [1.0]),
    ]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])],
        inits,
    )  # fmt: skip
    return helper.make_model(graph)


# ------------------------------------------------------------------------------------------------ quick
@pytest.mark.quick
@pytest.mark.oracle
@pytest.mark.parametrize("hw", [(96, 96), (48, 80), (120, 37), (31, 64), (64, 64), (200, 13)], ids=str)
def test_letterbox_matches_ultralytics(hw: tuple[int, int]) -> None:
    from ultralytics.data.augment import LetterBox

    image = np.random.default_rng(hw[0] * hw[1]).integers(0, 256, (*hw, 3), dtype=np.uint8)
    expected = LetterBox(new_shape=(IMGSZ, IMGSZ), auto=False, scaleup=True)(image=image.copy())
    np.testing.assert_array_equal(q.letterbox(image, IMGSZ), expected)


@pytest.mark.quick
def test_preprocess_image_is_rgb_nchw_unit_float(tmp_path: Path) -> None:
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    image[..., 0] = 255  # blue in BGR
    cv2.imwrite(str(tmp_path / "b.png"), image)
    x = q.preprocess_image(tmp_path / "b.png", IMGSZ)
    assert x.shape == (1, 3, IMGSZ, IMGSZ) and x.dtype == np.float32
    assert x[0, 2].min() == 1.0 and x[0, :2].max() == 0.0  # channel 2 of RGB is blue
    with pytest.raises(FileNotFoundError, match=r"missing\.jpg"):
        q.preprocess_image(tmp_path / "missing.jpg", IMGSZ)


@pytest.mark.quick
@pytest.mark.parametrize(("count", "batch", "sizes"), [(5, 1, [1] * 5), (5, 2, [2, 2, 1]), (4, 4, [4])], ids=str)
def test_calibration_reader_yields_exactly_the_given_images(
    tmp_path: Path, count: int, batch: int, sizes: list[int]
) -> None:
    paths = []
    for i in range(count):
        paths.append(tmp_path / f"{i}.png")
        cv2.imwrite(str(paths[-1]), np.full((32, 48, 3), i * 10, dtype=np.uint8))
    reader = q.LetterboxCalibrationReader(paths, imgsz=IMGSZ, input_name="images", batch=batch)
    from onnxruntime.quantization import CalibrationDataReader

    assert isinstance(reader, CalibrationDataReader)  # duck-typed, as onnxruntime checks it
    assert len(reader) == len(sizes)
    for _ in range(2):  # onnxruntime may rewind and read again
        got = list(iter(reader.get_next, None))
        assert [g["images"].shape[0] for g in got] == sizes
        centres = np.concatenate([g["images"][:, 0, IMGSZ // 2, IMGSZ // 2] for g in got])
        np.testing.assert_allclose(centres * 255, [i * 10 for i in range(count)], atol=1e-3)
        reader.rewind()
    with pytest.raises(ValueError, match="at least one image"):
        q.LetterboxCalibrationReader([], imgsz=IMGSZ)


@pytest.mark.quick
def test_head_nodes_to_exclude_hand_graph() -> None:
    names, head = q.head_nodes_to_exclude(_tiny_head_graph())
    assert head == "model.2"
    assert names == ["/model.2/Sigmoid", "/model.2/Concat", "post_Identity"]


@pytest.mark.quick
def test_unknown_method_and_wrong_inputs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown quantization method 'int4'"):
        q.check_available("int4", "cpu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"pass the \.pt"):
        q.quantize(tmp_path / "m.onnx", "ultralytics-int8", tmp_path, imgsz=IMGSZ, calibration_images=[])
    with pytest.raises(ValueError, match="calibration images from the train split"):
        q.quantize(tmp_path / "m.onnx", "onnx-int8-static", tmp_path / "out", imgsz=IMGSZ, calibration_images=[])
    assert not (tmp_path / "out").exists()  # failed before any work


@pytest.mark.quick
@pytest.mark.parametrize(
    ("method", "device", "missing", "cuda", "match"),
    [
        ("tensorrt-fp16", "cpu", set(), True, r"NVIDIA GPU device .*device='cpu'"),
        ("tensorrt-int8", "mps", set(), True, "NVIDIA GPU device"),
        ("tensorrt-int8", "cuda:0", set(), False, "torch sees no CUDA device"),
        ("tensorrt-fp16", "0", {"tensorrt"}, True, "pip install tensorrt"),
        ("openvino-int8", "cpu", {"nncf"}, True, r"pip install 'yololab\[openvino\]'"),
        ("onnx-int8-static", "cpu", {"onnxruntime"}, True, r"onnxruntime .*pip install 'yololab\[onnx\]'"),
        ("onnx-fp16", "cuda", {"onnx"}, True, r"pip install 'yololab\[onnx\]'"),
    ],
    ids=lambda v: str(v) if isinstance(v, str) else None,
)
def test_unavailable_methods_say_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, method: str, device: str, missing: set, cuda: bool, match: str
) -> None:
    monkeypatch.setattr(q, "_has_module", lambda name: name not in missing)
    monkeypatch.setattr(q, "_cuda_available", lambda: cuda)
    with pytest.raises(q.QuantizationUnavailable, match=match):
        q.check_available(method, device)  # type: ignore[arg-type]
    with pytest.raises(q.QuantizationUnavailable, match=match):
        q.quantize(tmp_path / "m.pt", method, tmp_path / "out", imgsz=IMGSZ, calibration_images=[], device=device)  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()


@pytest.mark.quick
def test_real_environment_availability() -> None:
    """What this machine offers: every CPU method; TensorRT never on CPU; OpenVINO only with its extra."""
    for method in CPU_METHODS:
        q.check_available(method, "cpu")  # type: ignore[arg-type]
    with pytest.raises(q.QuantizationUnavailable):
        q.check_available("tensorrt-int8", "cpu")
    if not (q._has_module("openvino") and q._has_module("nncf")):
        with pytest.raises(q.QuantizationUnavailable, match="yololab"):
            q.check_available("openvino-int8", "cpu")


# ------------------------------------------------------------------------------------------------ slow (real model)
@pytest.mark.slow
@pytest.mark.integration
def test_export_onnx_fp32_leaves_the_weights_folder_alone(tiny_pt: Path, fp32_onnx: Path) -> None:
    assert fp32_onnx.name == "last_fp32.onnx" and fp32_onnx.stat().st_size > 1e6
    assert sorted(p.name for p in tiny_pt.parent.iterdir()) == ["best.pt", "last.pt"]
    assert [p.name for p in fp32_onnx.parent.iterdir()] == [fp32_onnx.name]  # scratch folder removed
    meta = {p.key: p.value for p in onnx.load(str(fp32_onnx)).metadata_props}
    assert meta["task"] == "detect" and meta["imgsz"] == f"[{IMGSZ}, {IMGSZ}]"


@pytest.mark.slow
@pytest.mark.integration
def test_static_int8_excludes_only_head_nodes(fp32_onnx: Path, train_images: list[Path], tmp_path: Path) -> None:
    pair = q.quantize(fp32_onnx, "onnx-int8-static", tmp_path, imgsz=IMGSZ, calibration_images=train_images[:8])
    assert pair.original == fp32_onnx and pair.details["calibration_images"] == "8"
    fp32 = onnx.load(str(fp32_onnx))
    excluded, head = q.head_nodes_to_exclude(fp32)
    assert head == pair.details["head_module"] == "model.23" and pair.details["nodes_excluded"] == str(len(excluded))
    assert excluded == [n.name for n in fp32.graph.node if n.name.startswith("/model.23/") and n.op_type != "Conv"]

    model = onnx.load(str(pair.quantized))
    dq_outputs = {o for n in model.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    quantized = {n.name for n in model.graph.node if dq_outputs.intersection(n.input)}
    producer = {o: n for n in model.graph.node for o in n.output}
    assert producer[model.graph.output[0].name].name in excluded  # the decoded output is computed in float
    assert "/model.23/Concat_3" in excluded and "/model.23/dfl/Softmax" in excluded
    backbone_muls = [n.name for n in model.graph.node if n.op_type == "Mul" and not n.name.startswith("/model.23/")]
    assert backbone_muls and set(backbone_muls) <= quantized  # the backbone's SiLU runs on INT8 tensors


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize("method", CPU_METHODS)
def test_cpu_method_loads_runs_and_validates(
    method: str,
    tiny_pt: Path,
    fp32_onnx: Path,
    data_yaml: Path,
    train_images: list[Path],
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from ultralytics import YOLO

    source = tiny_pt if method == "ultralytics-int8" else fp32_onnx
    caches = {p: p.stat().st_mtime_ns for p in (data_yaml.parent / "labels").glob("*.cache")}
    pair = q.quantize(
        source,
        method,
        tmp_path,
        imgsz=IMGSZ,
        calibration_images=train_images[:8],
        data_yaml=data_yaml,  # type: ignore[arg-type]
    )
    assert pair.method == method and pair.quantized.parent == tmp_path
    assert {p: p.stat().st_mtime_ns for p in (data_yaml.parent / "labels").glob("*.cache")} == caches
    assert all(isinstance(v, str) for v in pair.details.values()) and pair.details["onnxruntime_version"]
    ratio = pair.original.stat().st_size / pair.quantized.stat().st_size
    low, high = SIZE_RATIO[method]
    assert low <= ratio <= high, f"{method}: FP32/quantized size ratio {ratio:.2f}"

    x = q.preprocess_image(train_images[0], IMGSZ)
    outputs = [
        ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
        for p in (pair.original, pair.quantized)
    ]
    assert outputs[0].shape == outputs[1].shape == (1, 4 + len(NAMES), 84)
    assert np.isfinite(outputs[1]).all()

    model = YOLO(str(pair.quantized), task="detect")
    metrics = model.val(
        data=str(data_yaml), imgsz=IMGSZ, batch=1, rect=False, plots=False, device="cpu", verbose=False,
        project=str(tmp_path_factory.mktemp("val")),
    )  # fmt: skip
    assert 0.0 <= float(metrics.box.map50) <= 1.0
    assert metrics.names == dict(enumerate(NAMES))  # Ultralytics metadata survived quantization
    if method == "ultralytics-int8":
        assert sorted(p.name for p in tmp_path.iterdir()) == ["last_fp32.onnx", "last_ultralytics_int8.onnx"]
        assert sorted(p.name for p in tiny_pt.parent.iterdir()) == ["best.pt", "last.pt"]


@pytest.mark.slow
@pytest.mark.integration
def test_static_int8_fixed_batch_calibrates_full_batches(
    tiny_pt: Path, train_images: list[Path], tmp_path: Path
) -> None:
    fp32 = q.export_onnx_fp32(tiny_pt, tmp_path / "b2", imgsz=IMGSZ, batch=2)
    pair = q.quantize(fp32, "onnx-int8-static", tmp_path / "b2", imgsz=IMGSZ, calibration_images=train_images[:5])
    assert (pair.details["calibration_batch"], pair.details["calibration_images"]) == ("2", "4")
    x = np.concatenate([q.preprocess_image(p, IMGSZ) for p in train_images[:2]])
    (out,) = ort.InferenceSession(str(pair.quantized), providers=["CPUExecutionProvider"]).run(None, {"images": x})
    assert out.shape[0] == 2
    with pytest.raises(ValueError, match="at least 2 calibration images"):
        q.quantize(fp32, "onnx-int8-static", tmp_path / "b2", imgsz=IMGSZ, calibration_images=train_images[:1])


# ---------------------------------------------------------------------------------------- slow (exports from elsewhere)
# (opset, dynamic axes, Ultralytics metadata kept): what `YOLO(pt).export(format="onnx", opset=..)` gives a user.
FOREIGN_CASES = [(13, False, True), (13, True, True), (22, False, True), (22, True, False)]
MAP50_TOLERANCE = 0.05  # |INT8 - FP32| mAP50 on the synthetic val set
BOX_TOLERANCE = 0.01  # mean |INT8 - FP32| of the decoded box coordinates, as a fraction of imgsz (measured 0.002)


@pytest.fixture(scope="session")
def foreign_export(tiny_pt: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[int, bool], Path]:
    """``export(opset, dynamic)``: Ultralytics' plain ONNX export of the tiny model, made like a user elsewhere would.

    Exported once per (opset, dynamic) from a private copy of the weights; tests read the file and never change it.
    """
    from ultralytics import YOLO

    root, made = tmp_path_factory.mktemp("foreign"), {}

    def export(opset: int, dynamic: bool) -> Path:
        if (opset, dynamic) not in made:
            folder = root / f"opset{opset}-{'dynamic' if dynamic else 'static'}"
            folder.mkdir()
            weights = shutil.copy2(tiny_pt, folder / "model.pt")
            exported = YOLO(str(weights)).export(
                format="onnx", opset=opset, imgsz=IMGSZ, dynamic=dynamic, device="cpu", verbose=False
            )
            made[opset, dynamic] = Path(exported)
        return made[opset, dynamic]

    return export


def _opset(model: onnx.ModelProto) -> int:
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def _quantize_linear_zero_point_types(model: onnx.ModelProto) -> set[int]:
    """Element types of the zero points of every QuantizeLinear (the quantizer's Qs all quantize activations)."""
    inits = {i.name: i.data_type for i in model.graph.initializer}
    return {inits[n.input[2]] for n in model.graph.node if n.op_type == "QuantizeLinear"}


def _val_map(model: Path, data_yaml: Path, project: Path) -> tuple[float, float, dict]:
    """mAP50, mAP50-95 and class names from ``YOLO(model, task="detect").val``; its run folder goes to ``project``."""
    from ultralytics import YOLO

    m = YOLO(str(model), task="detect").val(
        data=str(data_yaml), imgsz=IMGSZ, batch=1, rect=False, plots=False, device="cpu", verbose=False,
        project=str(project), name=model.stem,
    )  # fmt: skip
    return float(m.box.map50), float(m.box.map), dict(m.names)


def _outputs(model: Path, images: list[Path]) -> np.ndarray:
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {"images": q.preprocess_image(p, IMGSZ)})[0] for p in images])


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize(
    ("opset", "dynamic", "metadata"),
    FOREIGN_CASES,
    ids=[f"opset{o}-{'dynamic' if d else 'static'}{'' if m else '-no-metadata'}" for o, d, m in FOREIGN_CASES],
)
def test_static_int8_serves_exports_from_elsewhere(
    opset: int,
    dynamic: bool,
    metadata: bool,
    foreign_export: Callable[[int, bool], Path],
    data_yaml: Path,
    train_images: list[Path],
    tmp_path: Path,
) -> None:
    """The issue's case: an Ultralytics ONNX at opset 22 crashed onnxruntime on load; opset 13 and 22, both shapes."""
    model = onnx.load(str(foreign_export(opset, dynamic)))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert _opset(model) == opset and all(bool(d.dim_param) == dynamic for d in (dims[0], dims[2], dims[3]))
    if not metadata:
        del model.metadata_props[:]
    fp32 = tmp_path / "third_party.onnx"
    onnx.save(model, str(fp32))

    pair = q.quantize(fp32, "onnx-int8-static", tmp_path / "out", imgsz=IMGSZ, calibration_images=train_images[:8])
    assert pair.original == fp32 and pair.details["onnx_opset"] == str(opset)
    assert pair.details["ultralytics_metadata"] == ("yes" if metadata else "no")
    assert pair.details["input_shape"] == ("batchx3xheightxwidth" if dynamic else f"1x3x{IMGSZ}x{IMGSZ}")
    quantized = onnx.load(str(pair.quantized))
    ops = Counter(n.op_type for n in quantized.graph.node)
    convs = sum(n.op_type == "Conv" for n in model.graph.node)
    assert ops["QuantizeLinear"] >= convs and ops["DequantizeLinear"] >= 2 * convs  # every Conv's input and weight
    assert _opset(quantized) == opset  # served at its own opset, not converted
    assert _quantize_linear_zero_point_types(quantized) == {onnx.TensorProto.UINT8}  # the root-cause fix

    # loads with full graph optimizations (where the opset-22 file failed) and keeps its dynamic axes
    session = ort.InferenceSession(str(pair.quantized), providers=["CPUExecutionProvider"])
    batch, side = (2, IMGSZ + 32) if dynamic else (1, IMGSZ)
    (out,) = session.run(None, {"images": np.random.default_rng(0).random((batch, 3, side, side), dtype=np.float32)})
    assert out.shape[0] == batch and np.isfinite(out).all()

    val_images = sorted((data_yaml.parent / "images" / "val").glob("*.jpg"))
    reference, result = _outputs(fp32, val_images), _outputs(pair.quantized, val_images)
    box_error = float(np.abs(result[:, :4] - reference[:, :4]).mean()) / IMGSZ
    assert box_error <= BOX_TOLERANCE, f"decoded boxes moved by {box_error:.2%} of imgsz on average"

    (map50_fp32, map_fp32, _), (map50_int8, map_int8, names) = (
        _val_map(fp32, data_yaml, tmp_path / "val"),
        _val_map(pair.quantized, data_yaml, tmp_path / "val"),
    )
    assert all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in (map50_fp32, map_fp32, map50_int8, map_int8))
    assert abs(map50_int8 - map50_fp32) <= MAP50_TOLERANCE
    assert names == dict(enumerate(NAMES))  # from the metadata, or from data.yaml when the file has none


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize("method", ["onnx-int8-dynamic", "onnx-fp16"])
@pytest.mark.parametrize(("opset", "dynamic"), [(13, False), (22, True)], ids=["opset13-static", "opset22-dynamic"])
def test_dynamic_int8_and_fp16_serve_exports_from_elsewhere(
    method: str,
    opset: int,
    dynamic: bool,
    foreign_export: Callable[[int, bool], Path],
    data_yaml: Path,
    tmp_path: Path,
) -> None:
    source = foreign_export(opset, dynamic)
    pair = q.quantize(source, method, tmp_path, imgsz=IMGSZ, calibration_images=[])
    assert pair.original == source and pair.details["onnx_opset"] == str(opset)
    assert _opset(onnx.load(str(pair.quantized))) >= opset
    val_images = sorted((data_yaml.parent / "images" / "val").glob("*.jpg"))
    reference, result = _outputs(source, val_images), _outputs(pair.quantized, val_images)
    assert result.shape == reference.shape and np.isfinite(result).all()
    assert float(np.abs(result[:, :4] - reference[:, :4]).mean()) / IMGSZ <= BOX_TOLERANCE
    map50, map5095, names = _val_map(pair.quantized, data_yaml, tmp_path / "val")
    assert all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in (map50, map5095)) and names == dict(enumerate(NAMES))

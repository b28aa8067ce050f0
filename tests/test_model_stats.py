"""get_model_stats: oracle against Ultralytics get_flops/get_num_params; ONNX counts by hand and by export."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")
from onnx import TensorProto, helper  # noqa: E402

from yololab.adapters.model_stats import get_model_stats  # noqa: E402

YAMLS = ("yolo11n.yaml", "yolov8n.yaml", "yolo26n.yaml")
SIZES = (64, (96, 128))


@pytest.fixture(scope="module")
def ul() -> SimpleNamespace:
    """Ultralytics, imported offline (yololab's switches set first, in this fixture, not at import)."""
    from yololab.adapters.ultralytics_env import prepare_ultralytics_offline

    prepare_ultralytics_offline()
    from ultralytics import YOLO
    from ultralytics.utils.torch_utils import get_flops, get_num_params

    return SimpleNamespace(YOLO=YOLO, get_flops=get_flops, get_num_params=get_num_params)


@pytest.fixture(scope="module")
def models(ul: SimpleNamespace) -> dict[str, Any]:
    return {name: ul.YOLO(name) for name in YAMLS}


@pytest.mark.oracle
@pytest.mark.parametrize("size", SIZES, ids=str)
@pytest.mark.parametrize("name", YAMLS)
def test_equals_ultralytics(
    ul: SimpleNamespace, models: dict[str, Any], name: str, size: int | tuple[int, int]
) -> None:
    model = models[name]
    expected_flops = ul.get_flops(model.model, list(size) if isinstance(size, tuple) else size)
    expected_params = ul.get_num_params(model.model) / 1e6
    assert expected_flops > 0
    for given in (model, model.model):  # an Ultralytics YOLO and a bare torch.nn.Module
        stats = get_model_stats(given, size)
        assert (stats.flops_g, stats.params_m) == (expected_flops, expected_params)
        assert stats.size_mb is None and "no weights file" in stats.unavailable_reasons["size_mb"]


@pytest.mark.oracle
def test_pt_path_and_yaml_path(ul: SimpleNamespace, models: dict[str, Any], tmp_path: Path) -> None:
    model = models["yolov8n.yaml"]
    weights = tmp_path / "v8.pt"
    model.save(weights)
    expected = (ul.get_flops(model.model, 64), ul.get_num_params(model.model) / 1e6)
    from_file = get_model_stats(weights, 64)
    assert (from_file.flops_g, from_file.params_m) == expected
    assert from_file.size_mb == weights.stat().st_size / 1e6 and from_file.unavailable_reasons == {}
    assert (get_model_stats(str(weights), 64).size_mb, get_model_stats(ul.YOLO(weights), 64).size_mb) == (
        from_file.size_mb,
        from_file.size_mb,
    )
    from_yaml = get_model_stats("yolov8n.yaml", 64)
    assert (from_yaml.flops_g, from_yaml.params_m) == expected


def test_plain_pickled_module_path(ul: SimpleNamespace, tmp_path: Path) -> None:
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU())
    path = tmp_path / "plain.pt"
    torch.save(module, path)
    stats = get_model_stats(path, 32)
    assert stats.params_m == (8 * 3 * 9 + 8) / 1e6
    assert stats.flops_g == ul.get_flops(module, 32)


def test_flops_failure_is_absent_with_reason() -> None:
    stats = get_model_stats(torch.nn.Linear(3, 2), 64)  # cannot take a (1, 3, 64, 64) image
    assert stats.flops_g is None and "get_flops returned 0.0" in stats.unavailable_reasons["flops_g"]
    assert stats.params_m == 8 / 1e6


@pytest.mark.oracle
def test_onnx_export_counts_equal_fused_torch_model(
    ul: SimpleNamespace, models: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a model built from YAML exports next to the working directory
    model = copy.deepcopy(models["yolov8n.yaml"])
    exported = Path(model.export(format="onnx", imgsz=64, simplify=False, verbose=False))
    fused = copy.deepcopy(models["yolov8n.yaml"].model).fuse()
    stats = get_model_stats(exported, 64)
    assert stats.flops_g == pytest.approx(ul.get_flops(fused, 64), rel=1e-9)  # BN folded in both
    assert stats.params_m == pytest.approx(ul.get_num_params(fused) / 1e6, rel=0.01)
    assert stats.size_mb == exported.stat().st_size / 1e6 and stats.unavailable_reasons == {}
    assert get_model_stats(ul.YOLO(exported, task="detect"), 64).flops_g == stats.flops_g


def _hand_onnx(path: Path, *, dynamic: bool) -> Path:
    """Conv 3->8 k3 pad1, then a MatMul with an (…, 16, 4) weight, then Gemm 8*16*4 -> 10."""
    h, w = ("H", "W") if dynamic else (16, 16)
    init = [
        helper.make_tensor("conv_w", TensorProto.FLOAT, [8, 3, 3, 3], [0.0] * 216),
        helper.make_tensor("conv_b", TensorProto.FLOAT, [8], [0.0] * 8),
        helper.make_tensor("mm_w", TensorProto.FLOAT, [16, 4], [0.0] * 64),
        helper.make_tensor("shape", TensorProto.INT64, [2], [1, 8 * 16 * 4]),
        helper.make_tensor("gemm_w", TensorProto.FLOAT, [10, 512], [0.0] * 5120),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "conv_w", "conv_b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("MatMul", ["c", "mm_w"], ["m"]),
        helper.make_node("Reshape", ["m", "shape"], ["r"]),
        helper.make_node("Gemm", ["r", "gemm_w"], ["y"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "hand",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, h, w])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        init,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic-fixed-by-input-size"])
def test_onnx_hand_built_counts(tmp_path: Path, dynamic: bool) -> None:
    stats = get_model_stats(_hand_onnx(tmp_path / "hand.onnx", dynamic=dynamic), 16)
    conv = (8 * 16 * 16) * (3 * 3 * 3)  # output elements x (C_in x k x k)
    matmul = (8 * 16 * 4) * 16  # output (1, 8, 16, 4) elements x K
    gemm = 10 * 512  # M x N x K = 1 x 10 x 512
    assert stats.flops_g == pytest.approx(2 * (conv + matmul + gemm) / 1e9, rel=1e-12)
    assert stats.params_m == (216 + 8 + 64 + 5120) / 1e6  # the int64 shape tensor is not a weight


def test_onnx_unknown_shapes_make_flops_absent(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["y"])],
        "unknown",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", "K"]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, ["K", 4]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    path = tmp_path / "unknown.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    stats = get_model_stats(path, 64)
    assert stats.flops_g is None and "MatMul" in stats.unavailable_reasons["flops_g"]
    assert stats.params_m == 0


@pytest.mark.parametrize(
    ("name", "error"), [("missing.pt", FileNotFoundError), ("model.tflite", ValueError)], ids=["missing", "suffix"]
)
def test_bad_paths(tmp_path: Path, name: str, error: type[Exception]) -> None:
    path = tmp_path / name
    if error is ValueError:
        path.write_bytes(b"x")
    with pytest.raises(error, match=name):
        get_model_stats(path, 64)

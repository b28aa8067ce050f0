"""Model statistics: parameters, GFLOPs as Ultralytics counts them, weights-file size.

Torch models (an Ultralytics ``YOLO``, a ``torch.nn.Module``, a ``.pt`` checkpoint, a model ``.yaml``) are
counted by Ultralytics itself: ``ultralytics.utils.torch_utils.get_num_params`` and ``get_flops`` (thop MACs x 2,
at the given input size). An ``.onnx`` file is read with ``onnx``: parameters are the elements of its weight
initializers, and FLOPs are 2 x the multiply-accumulates of its Conv / ConvTranspose / Gemm / MatMul nodes (and
their quantized forms), from shapes found by ONNX shape inference. The two counts differ slightly for the same
network: an export folds BatchNorm into Conv, and thop counts BatchNorm and upsampling while the ONNX count does
not, but counts attention MatMuls, which thop does not.

A quantity that cannot be counted is ``None`` and ``unavailable_reasons`` says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_MB = 1e6  # MB = 10^6 bytes, as SystemMetrics.model_size_mb

_ONNX_WEIGHT_TYPES = frozenset({1, 2, 3, 10, 11, 16})  # FLOAT, UINT8, INT8, FLOAT16, DOUBLE, BFLOAT16
_ONNX_MATMUL_LIKE = {"Gemm", "MatMul", "MatMulInteger", "QLinearMatMul"}
_ONNX_WEIGHT_INPUT = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3, "ConvTranspose": 1}


@dataclass(frozen=True, slots=True)
class ModelStats:
    """Size and cost of a model.

    Attributes:
        params_m: parameters, in millions (``get_num_params`` / 1e6; ONNX: weight initializer elements / 1e6).
        flops_g: GFLOPs of one forward pass of one image at the input size, 2 x MACs (as Ultralytics).
        size_mb: size of the weights file, in MB (10^6 bytes); ONNX external data files included.
        unavailable_reasons: field name -> why it is ``None``.
    """

    params_m: float | None = None
    flops_g: float | None = None
    size_mb: float | None = None
    unavailable_reasons: dict[str, str] = field(default_factory=dict)


def get_model_stats(model: Any, input_size: int | tuple[int, int]) -> ModelStats:
    """Parameters (M), GFLOPs and file size (MB) of a model.

    Args:
        model: an Ultralytics ``YOLO``/``Model``, a ``torch.nn.Module``, or a path (``str``/``Path``) to a
            ``.pt`` checkpoint, an ``.onnx`` file, an export folder (size only) or a model ``.yaml`` (built
            untrained, nothing downloaded).
        input_size: image size in pixels, ``640`` or ``(height, width)``; FLOPs are counted at this size (an
            ONNX model with a fixed input size is counted at its own size).

    Returns:
        The statistics; ``size_mb`` is ``None`` for a model that has no file (an in-memory module, a YAML).

    Raises:
        FileNotFoundError: a path that does not exist.
        ValueError: a path with another suffix.
    """
    if isinstance(model, (str, Path)):
        return _stats_of_path(Path(model), input_size)
    inner = getattr(model, "model", None)
    if isinstance(inner, (str, Path)):  # an Ultralytics YOLO wrapping an exported file
        return _stats_of_path(Path(inner), input_size)
    if inner is not None and hasattr(model, "ckpt_path"):  # an Ultralytics YOLO wrapping a torch model
        return _stats_of_torch(inner, input_size, _existing(model.ckpt_path))
    return _stats_of_torch(model, input_size, _existing(getattr(model, "pt_path", None)))


def _existing(path: str | Path | None) -> Path | None:
    return Path(path) if path and Path(path).is_file() else None


def _stats_of_path(path: Path, input_size: int | tuple[int, int]) -> ModelStats:
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        from ultralytics import YOLO

        return _stats_of_torch(YOLO(str(path)).model, input_size, None)
    if path.is_dir():
        return _stats_of_folder(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    if suffix == ".onnx":
        return _stats_of_onnx(path, input_size)
    if suffix == ".pt":
        return _stats_of_torch(_load_pt(path), input_size, path)
    raise ValueError(f"model path must end in .pt, .onnx or .yaml, got {path}")


def _stats_of_folder(path: Path) -> ModelStats:
    """An export folder (OpenVINO IR, ...): its size is the files' total; parameters and FLOPs are not read."""
    files = [p for p in path.rglob("*") if p.is_file()]
    if not files:
        raise FileNotFoundError(f"model folder is empty: {path}")
    why = f"{path.name} is an export folder (e.g. OpenVINO IR): parameters and FLOPs are not counted from it"
    return ModelStats(
        size_mb=sum(p.stat().st_size for p in files) / 1e6,
        unavailable_reasons={"params_m": why, "flops_g": why},
    )


def _load_pt(path: Path) -> Any:
    """The module in a ``.pt``: an Ultralytics checkpoint, else a pickled ``nn.Module``."""
    import torch
    from ultralytics.nn.tasks import load_checkpoint

    try:
        return load_checkpoint(str(path))[0]
    except (TypeError, AttributeError, KeyError):
        loaded = torch.load(str(path), map_location="cpu", weights_only=False)
        if isinstance(loaded, torch.nn.Module):
            return loaded
        raise ValueError(f"{path} holds neither an Ultralytics checkpoint nor a torch.nn.Module") from None


def _stats_of_torch(module: Any, input_size: int | tuple[int, int], path: Path | None) -> ModelStats:
    from ultralytics.utils.torch_utils import get_flops, get_num_params

    reasons: dict[str, str] = {}
    imgsz = list(input_size) if isinstance(input_size, (tuple, list)) else input_size
    flops: float | None = float(get_flops(module, imgsz))
    if not flops:  # get_flops returns 0.0 on any failure
        flops = None
        reasons["flops_g"] = "Ultralytics get_flops returned 0.0 (thop missing or profiling failed)"
    size = path.stat().st_size / _MB if path is not None else None
    if size is None:
        reasons["size_mb"] = "in-memory model: no weights file (pass the .pt path)"
    return ModelStats(params_m=get_num_params(module) / 1e6, flops_g=flops, size_mb=size, unavailable_reasons=reasons)


def _stats_of_onnx(path: Path, input_size: int | tuple[int, int]) -> ModelStats:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    weights = [t for t in model.graph.initializer if t.data_type in _ONNX_WEIGHT_TYPES]
    params = sum(math.prod(t.dims) for t in weights)
    flops, why = onnx_flops_g(model, input_size)
    return ModelStats(
        params_m=params / 1e6,
        flops_g=flops,
        size_mb=_onnx_bytes(path, model) / _MB,
        unavailable_reasons={"flops_g": why} if why else {},
    )


def _onnx_bytes(path: Path, model: Any) -> int:
    locations = {
        entry.value for tensor in model.graph.initializer for entry in tensor.external_data if entry.key == "location"
    }
    extra = sum((path.parent / name).stat().st_size for name in locations if (path.parent / name).is_file())
    return path.stat().st_size + extra


def onnx_flops_g(model: Any, input_size: int | tuple[int, int]) -> tuple[float | None, str | None]:
    """GFLOPs (2 x MACs) of the Conv/ConvTranspose/Gemm/MatMul nodes of an ``onnx.ModelProto``, one image.

    Symbolic input dimensions of 4-D image inputs are fixed to ``(1, C, height, width)`` before shape
    inference; the model is not modified. MACs per node: Conv = output elements x (C_in / groups) x kernel
    area; ConvTranspose = input elements x (C_out / groups) x kernel area; Gemm/MatMul = output elements x K.

    Returns:
        ``(gflops, None)``, or ``(None, reason)`` when a counted node's shapes cannot be inferred.
    """
    import onnx

    height, width = (input_size, input_size) if isinstance(input_size, int) else input_size
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    _fix_image_inputs(fixed.graph, height, width)
    try:
        inferred = onnx.shape_inference.infer_shapes(fixed)
    except Exception as err:
        return None, f"ONNX shape inference failed: {err}"
    shapes = _known_shapes(inferred.graph)
    macs = 0
    for node in inferred.graph.node:
        node_macs = _node_macs(node, shapes)
        if node_macs is None:
            return None, f"ONNX: shapes of {node.op_type} node {node.name!r} unknown after shape inference"
        macs += node_macs
    return 2 * macs / 1e9, None


def _fix_image_inputs(graph: Any, height: int, width: int) -> None:
    initializers = {t.name for t in graph.initializer}
    for value in graph.input:
        dims = value.type.tensor_type.shape.dim
        if value.name in initializers or len(dims) != 4:
            continue
        for dim, size in zip(dims, (1, 3, height, width), strict=True):
            if not dim.HasField("dim_value"):
                dim.dim_value = size


def _known_shapes(graph: Any) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {t.name: tuple(t.dims) for t in graph.initializer}
    for value in (*graph.input, *graph.value_info, *graph.output):
        tensor_type = value.type.tensor_type
        if not tensor_type.HasField("shape"):
            continue
        dims = tensor_type.shape.dim
        if all(d.HasField("dim_value") and d.dim_value > 0 for d in dims):
            shapes[value.name] = tuple(d.dim_value for d in dims)
    return shapes


def _node_macs(node: Any, shapes: dict[str, tuple[int, ...]]) -> int | None:
    """Multiply-accumulates of one node (0 for uncounted ops); ``None`` when a needed shape is unknown."""
    op = node.op_type
    if op not in _ONNX_WEIGHT_INPUT and op not in _ONNX_MATMUL_LIKE:
        return 0
    out = shapes.get(node.output[0])
    if op in _ONNX_MATMUL_LIKE:
        a = shapes.get(node.input[0])
        if out is None or a is None:
            return None
        transposed_a = op == "Gemm" and any(at.name == "transA" and at.i for at in node.attribute)
        k = a[0] if transposed_a or len(a) == 1 else a[-1]
        return math.prod(out) * k
    weight = shapes.get(node.input[_ONNX_WEIGHT_INPUT[op]])
    if op == "ConvTranspose":
        x = shapes.get(node.input[0])
        return None if x is None or weight is None else math.prod(x) * math.prod(weight[1:])
    return None if out is None or weight is None else math.prod(out) * math.prod(weight[1:])

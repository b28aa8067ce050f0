"""The quantization methods yololab offers, and their facts: one table, read by the config and the adapter.

Pure Python: the config schema takes its ``quant.method`` choices from :data:`METHODS`, and
``yololab.adapters.quantization`` decides from the same facts what each method needs (calibration images, a
``.pt`` to start from, a GPU, a package).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class QuantMethodFacts:
    """What one quantization method is and needs.

    Attributes:
        name: the config value (``quant.method``).
        precision: the quantized model's numeric format (``int8`` or ``fp16``).
        runtime: what runs the quantized model (``onnxruntime``, ``openvino``, ``tensorrt``).
        onnx_input: works on an FP32 ``.onnx`` (a ``.pt`` is exported to ONNX first); else the ``.pt`` is needed.
        calibrated: needs calibration images (static INT8).
        needs_gpu: runs only on an NVIDIA GPU.
        packages: Python modules it imports (checked before any work).
    """

    name: str
    precision: Literal["int8", "fp16"]
    runtime: Literal["onnxruntime", "openvino", "tensorrt"]
    onnx_input: bool
    calibrated: bool
    needs_gpu: bool
    packages: tuple[str, ...]


METHODS: dict[str, QuantMethodFacts] = {
    m.name: m
    for m in (
        QuantMethodFacts("onnx-int8-static", "int8", "onnxruntime", True, True, False, ("onnx", "onnxruntime")),
        QuantMethodFacts("onnx-int8-dynamic", "int8", "onnxruntime", True, False, False, ("onnx", "onnxruntime")),
        QuantMethodFacts("ultralytics-int8", "int8", "onnxruntime", False, True, False, ("onnx", "onnxruntime")),
        QuantMethodFacts("onnx-fp16", "fp16", "onnxruntime", True, False, False, ("onnx", "onnxruntime")),
        QuantMethodFacts("openvino-int8", "int8", "openvino", False, True, False, ("openvino", "nncf")),
        QuantMethodFacts("tensorrt-fp16", "fp16", "tensorrt", False, False, True, ("tensorrt",)),
        QuantMethodFacts("tensorrt-int8", "int8", "tensorrt", False, True, True, ("tensorrt",)),
    )
}
"""Every method, by name, in the order the docs list them."""

QuantMethod = Literal[
    "onnx-int8-static",
    "onnx-int8-dynamic",
    "ultralytics-int8",
    "onnx-fp16",
    "openvino-int8",
    "tensorrt-fp16",
    "tensorrt-int8",
]
"""The method names as a type (pydantic validates ``quant.method`` against it); equal to ``METHODS``' keys, checked
at import."""

if set(METHODS) != set(QuantMethod.__args__):  # pragma: no cover - a programming error, caught by any import
    raise RuntimeError("quant_methods: QuantMethod and METHODS disagree")

DeployFormat = Literal[
    "torch",
    "onnx",
    "onnx-fp16",
    "onnx-int8-static",
    "onnx-int8-dynamic",
    "ultralytics-int8",
    "openvino",
    "openvino-int8",
    "tensorrt-fp16",
    "tensorrt-int8",
]
"""The deployment formats a format sweep (``yololab bench``) measures: the PyTorch model, its FP32 exports
(``onnx``, ``openvino``) and every quantization method."""

FORMAT_PRECISION: dict[str, str] = {
    "torch": "fp32",
    "onnx": "fp32",
    "openvino": "fp32",
    **{name: facts.precision for name, facts in METHODS.items()},
}
"""Numeric format of each deployment format's weights."""

if set(FORMAT_PRECISION) != set(DeployFormat.__args__):  # pragma: no cover - a programming error
    raise RuntimeError("quant_methods: DeployFormat and FORMAT_PRECISION disagree")

__all__ = ["FORMAT_PRECISION", "METHODS", "DeployFormat", "QuantMethod", "QuantMethodFacts"]

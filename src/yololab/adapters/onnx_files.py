"""What an ONNX file says about itself, and onnxruntime sessions with fixed threads.

The one place yololab reads ONNX graphs (input shape, Ultralytics metadata) or builds onnxruntime sessions for
timing.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["OnnxFacts", "pinned_session", "read_onnx_facts"]


_QUANTIZED_OPS = frozenset(
    {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger",
     "DynamicQuantizeLinear"}
)  # fmt: skip
_YOLO_NODE = re.compile(r"^/model\.(\d+)/")


@dataclass(frozen=True)
class OnnxFacts:
    """What an ONNX file says about itself, read from the graph (weights not loaded, no session created).

    Attributes:
        path: the ONNX file.
        opset: version of the default (``ai.onnx``) operator set; 0 when none is declared.
        input_name: the image input (the first graph input that is not an initializer).
        input_type: its element type (``"float32"``, ``"float16"``, ...).
        input_shape: its dims: an ``int`` when fixed, the dim's name (``"batch"``, ``"height"``, ``"?"``) when not.
        outputs: the first output's shape, dynamic dimensions as None.
        quantized_nodes: QuantizeLinear/DequantizeLinear/QLinearConv/ConvInteger/... nodes already in the graph.
        yolo_names: nodes carry Ultralytics' ``/model.N/`` names (the detection head can be found).
        metadata: the ``metadata_props`` (Ultralytics writes names, imgsz, stride, task, version; others may not).
    """

    path: Path
    opset: int
    input_name: str
    input_type: str
    input_shape: tuple[int | str, ...]
    outputs: tuple[int | None, ...] = ()
    quantized_nodes: int = 0
    yolo_names: bool = False
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def dynamic(self) -> bool:
        """Some input axis is not fixed."""
        return any(not isinstance(d, int) for d in self.input_shape)

    @property
    def fixed_batch(self) -> int | None:
        """The fixed batch size, or None when the batch axis is dynamic."""
        first = self.input_shape[0] if self.input_shape else None
        return first if isinstance(first, int) else None

    @property
    def fixed_hw(self) -> tuple[int, int] | None:
        """(height, width) in pixels when both are fixed, else None."""
        h, w = self.input_shape[2:4] if len(self.input_shape) == 4 else (None, None)
        return (h, w) if isinstance(h, int) and isinstance(w, int) else None

    @property
    def names(self) -> list[str] | None:
        """Class names from the metadata (index = class id), or None when the file carries none."""
        raw = self.metadata.get("names")
        if not raw:
            return None
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            return None
        if isinstance(value, dict):
            return [str(value[k]) for k in sorted(value)]
        return [str(v) for v in value] if isinstance(value, list) else None

    @property
    def task(self) -> str | None:
        """The Ultralytics task recorded in the metadata (``detect``, ``segment``, ...), or None."""
        return self.metadata.get("task")

    @property
    def num_classes(self) -> int | None:
        """Classes a YOLO detection head predicts, from its output shape ``(batch, 4 + nc, anchors)``; else None."""
        if len(self.outputs) == 3 and self.outputs[1] is not None and self.outputs[1] > 4:
            return self.outputs[1] - 4
        return None


def _element_type_name(elem_type: int) -> str:
    """``"float32"`` for ``TensorProto.FLOAT`` and so on; the ONNX name when numpy has none (``"UNDEFINED"``)."""
    import onnx

    try:
        return onnx.helper.tensor_dtype_to_np_dtype(elem_type).name
    except (KeyError, ValueError, TypeError):
        return onnx.TensorProto.DataType.Name(elem_type) if elem_type in onnx.TensorProto.DataType.values() else "?"


def read_onnx_facts(path: str | Path) -> OnnxFacts:
    """Read an ONNX file's :class:`OnnxFacts` (weights are not loaded).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a readable ONNX model, or its graph has no input.
    """
    import onnx

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX model not found: {path}")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # onnx raises DecodeError, OSError, ... for a broken file
        detail = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise ValueError(f"{path}: not a readable ONNX model ({type(err).__name__}: {detail})") from None
    initializers = {i.name for i in model.graph.initializer}
    graph_input = next((i for i in model.graph.input if i.name not in initializers), None)
    if graph_input is None:
        raise ValueError(f"{path}: the ONNX graph has no input")
    tensor_type = graph_input.type.tensor_type
    shape = tuple(
        d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or "?")
        for d in tensor_type.shape.dim
    )
    output = model.graph.output[0] if model.graph.output else None
    outputs = (
        tuple(d.dim_value if d.HasField("dim_value") else None for d in output.type.tensor_type.shape.dim)
        if output is not None
        else ()
    )
    return OnnxFacts(
        path=path,
        opset=next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0),
        input_name=graph_input.name,
        input_type=_element_type_name(tensor_type.elem_type),
        input_shape=shape,
        outputs=outputs,
        quantized_nodes=sum(n.op_type in _QUANTIZED_OPS for n in model.graph.node),
        yolo_names=any(_YOLO_NODE.match(n.name) for n in model.graph.node),
        metadata={p.key: p.value for p in model.metadata_props},
    )


def pinned_session(session: Any, threads: int) -> Any:
    """A new onnxruntime session for the same model and providers, with ``threads`` intra-op threads, no spinning.

    onnxruntime's default lets idle workers spin, which on a small CPU slows the letterbox and NMS that run right
    after each inference.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(session._model_path, options, providers=session.get_providers())

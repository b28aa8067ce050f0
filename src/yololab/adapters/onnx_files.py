"""What an ONNX file says about itself, and onnxruntime sessions with fixed threads.

The one place yololab reads ONNX graphs (input shape, Ultralytics metadata) or builds onnxruntime sessions for
timing.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["OnnxFacts", "pinned_session", "read_onnx_facts"]


@dataclass(frozen=True)
class OnnxFacts:
    """The first input's shape and the Ultralytics metadata of an ONNX file.

    Attributes:
        batch: the fixed batch size, or None when the batch dimension is dynamic.
        height, width: the fixed input size in pixels, or None when dynamic.
        outputs: the first output's shape, dynamic dimensions as None.
        opset: the default-domain opset the file declares.
        metadata: Ultralytics' ``metadata_props`` (``names``, ``task``, ``imgsz``, ``version``, ...), as strings.
    """

    batch: int | None
    height: int | None
    width: int | None
    outputs: tuple[int | None, ...]
    opset: int | None
    metadata: dict[str, str] = field(default_factory=dict)

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


def _dims(value_info: Any) -> tuple[int | None, ...]:
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in value_info.type.tensor_type.shape.dim)


def read_onnx_facts(path: str | Path) -> OnnxFacts:
    """Read an ONNX file's input shape, output shape, opset and metadata (weights are not loaded).

    Raises:
        ValueError: the file is not a readable ONNX model.
    """
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # onnx raises DecodeError, OSError, ... for a broken file
        raise ValueError(f"{path}: not a readable ONNX model ({type(err).__name__}: {err})") from None
    if not model.graph.input:
        raise ValueError(f"{path}: the ONNX graph has no input")
    shape = _dims(model.graph.input[0])
    batch = shape[0] if shape else None
    height, width = (shape[2], shape[3]) if len(shape) == 4 else (None, None)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    outputs = _dims(model.graph.output[0]) if model.graph.output else ()
    metadata = {p.key: p.value for p in model.metadata_props}
    return OnnxFacts(batch or None, height or None, width or None, outputs, opset, metadata)


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

"""Quantize a YOLO detector: the methods the QuantizationRunner compares against the FP32 ONNX original.

Every method returns an :class:`ExportedPair`: ``original`` is the FP32 ONNX model (exported from the ``.pt`` when a
``.pt`` is given, else the given ``.onnx``) and ``quantized`` is the artifact of the method, both in ``out_dir``.

Methods (see ``docs/quantization.md`` for what was measured):

- ``onnx-int8-static``: onnxruntime ``quantize_static``, QDQ, per-channel INT8 weights, UINT8 (asymmetric 8-bit)
  activations calibrated (MinMax) on the given images, letterboxed exactly like Ultralytics' predictor. The detection
  head's non-Conv nodes are excluded: its decode concatenates box pixels (0..imgsz) and class probabilities (0..1) in
  one tensor, which one 8-bit scale cannot represent (mAP collapses to 0 without the exclusion). Why UINT8 and not
  INT8 activations: see :func:`_quantize_onnx_static` (INT8 activations break every opset >= 21 file).
- ``onnx-int8-dynamic``: onnxruntime ``quantize_dynamic`` (INT8 weights, activation ranges computed per inference).
- ``onnx-fp16``: ``onnxruntime.transformers.float16`` with float32 inputs/outputs kept, so Ultralytics can feed it.
- ``ultralytics-int8``: Ultralytics' own ONNX INT8 export (``quantize=8``), calibrated on the same images.
- ``openvino-int8``: Ultralytics' OpenVINO export with NNCF INT8 (optional extra ``yololab[openvino]``).
- ``tensorrt-fp16`` / ``tensorrt-int8``: Ultralytics' TensorRT engine export (NVIDIA GPU and ``tensorrt`` needed).

The three ``onnx-*`` methods take any FP32 ONNX detector, also one exported elsewhere: opset 13 up to the newest the
installed onnxruntime runs, fixed or dynamic input axes, with or without Ultralytics metadata. A file that a method
cannot serve (opset below 13, no Ultralytics node names, an FP16 or already quantized graph, a fixed input that is not
``imgsz``) raises :class:`UnquantizableModelError` (a ``ValueError``) naming the file, the reason and the method that
can; a failure inside onnxruntime is reported the same way, never as onnxruntime's own traceback. Every quantized
file is loaded and run once in an onnxruntime CPU session with default (full) graph optimizations, as Ultralytics
runs it, before it is returned.

Calibration images are the caller's choice and must come from the *train* split, never from the data that is scored.
Ultralytics writes exports next to the ``.pt`` (overwriting, and its ONNX INT8 export deletes the FP32 ONNX), so each
export here runs on a private copy of the weights in a scratch folder and its result is moved into ``out_dir``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from yololab.adapters.onnx_files import OnnxFacts, read_onnx_facts
from yololab.devices import is_cuda
from yololab.quant_methods import METHODS, QuantMethod

QUANT_METHODS: tuple[str, ...] = tuple(METHODS)

# the facts of yololab.quant_methods.METHODS, as the sets this module tests membership in
_ONNX_METHODS = frozenset(m for m, f in METHODS.items() if f.onnx_input)
_CALIBRATED_METHODS = frozenset(m for m, f in METHODS.items() if f.calibrated)
_PT_ONLY_METHODS = frozenset(m for m, f in METHODS.items() if not f.onnx_input)
_HEAD_NODE = re.compile(r"^/model\.(\d+)/")
_PAD_VALUE = 114  # Ultralytics LetterBox padding grey
MIN_STATIC_OPSET = 13  # per-channel QuantizeLinear/DequantizeLinear (the ``axis`` attribute) exist from opset 13
_OTHER_METHODS_ADVICE = {
    "onnx-int8-static": "onnx-int8-dynamic or onnx-fp16 (no calibration, no head exclusion) may serve it, and "
    "ultralytics-int8 quantizes from the .pt",
    "onnx-int8-dynamic": "onnx-int8-static or onnx-fp16 may serve it, and ultralytics-int8 quantizes from the .pt",
    "onnx-fp16": "onnx-int8-static or onnx-int8-dynamic may serve it",
}


class QuantizationUnavailable(RuntimeError):  # noqa: N818 (name fixed by the runner API)
    """A quantization method cannot run here; the message says what is missing and how to get it."""


class UnquantizableModelError(ValueError):
    """A method cannot serve this model file; the message names the file, why, and which method can.

    Attributes:
        path: the ONNX file.
        method: the method that cannot serve it.
        reason: why (one sentence, no traceback).
        advice: which method (or which re-export) can.
    """

    def __init__(self, path: Path | str, method: str, reason: str, advice: str) -> None:
        self.path, self.method, self.reason, self.advice = Path(path), method, reason, advice
        super().__init__(f"{method} cannot quantize {path}: {reason}. {advice}")


@dataclass(frozen=True)
class ExportedPair:
    """The FP32 ONNX baseline and the quantized artifact of one method.

    Attributes:
        original: FP32 ONNX model, the comparison baseline.
        quantized: the quantized model: an ``.onnx`` or ``.engine`` file, or an OpenVINO model folder.
        method: the :data:`QuantMethod` that produced ``quantized``.
        details: facts about the quantization, as strings for MLflow tags (calibration image count, nodes excluded,
            library versions, ...).
    """

    original: Path
    quantized: Path
    method: str
    details: dict[str, str]


# --------------------------------------------------------------------------------------------------- availability
def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def check_available(method: QuantMethod, device: str) -> None:
    """Fail early, before any work, when ``method`` cannot run on ``device`` in this environment.

    Args:
        method: one of :data:`QUANT_METHODS`.
        device: where the quantized model will run (``cpu``, ``cuda:0``, ``0``, ...).

    Raises:
        ValueError: ``method`` is not a known method.
        QuantizationUnavailable: a package, a GPU or TensorRT is missing; the message says how to get it.
    """
    if method not in QUANT_METHODS:
        raise ValueError(f"unknown quantization method {method!r}; expected one of {', '.join(QUANT_METHODS)}")
    missing = [m for m in ("onnx", "onnxruntime") if not _has_module(m)]
    if missing:
        raise QuantizationUnavailable(
            f"{method} needs {' and '.join(missing)} (not installed): pip install 'yololab[onnx]'"
        )
    if method == "openvino-int8":
        missing = [m for m in ("openvino", "nncf") if not _has_module(m)]
        if missing:
            raise QuantizationUnavailable(
                f"openvino-int8 needs the optional OpenVINO extra ({' and '.join(missing)} not installed): "
                "pip install 'yololab[openvino]'"
            )
    if method.startswith("tensorrt-"):
        _check_tensorrt(method, device)


def _check_tensorrt(method: str, device: str) -> None:
    if not is_cuda(device):
        raise QuantizationUnavailable(
            f"{method} builds a TensorRT engine and needs an NVIDIA GPU device (e.g. device='cuda:0'), got "
            f"device={device!r}; use onnx-int8-static or onnx-int8-dynamic on CPU"
        )
    if not _cuda_available():
        raise QuantizationUnavailable(
            f"{method} needs an NVIDIA GPU, but torch sees no CUDA device (no GPU, no driver, or a CPU-only torch)"
        )
    if not _has_module("tensorrt"):
        raise QuantizationUnavailable(
            f"{method} needs TensorRT: pip install tensorrt (matching your CUDA version), on a machine with an "
            "NVIDIA GPU"
        )


# --------------------------------------------------------------------------------------------------- calibration
def letterbox(image_bgr: np.ndarray, imgsz: int) -> np.ndarray:
    """Resize keeping the aspect ratio and pad to ``imgsz`` x ``imgsz`` with grey 114, centred.

    Same arithmetic as Ultralytics' predictor ``LetterBox(new_shape=imgsz, auto=False, scaleup=True)``: scale
    ``r = min(imgsz / h, imgsz / w)``, bilinear resize to ``round(w * r) x round(h * r)``, padding split as
    ``round(d / 2 - 0.1)`` before and ``round(d / 2 + 0.1)`` after.

    Args:
        image_bgr: ``(H, W, 3)`` uint8 image as ``cv2.imread`` returns it.
        imgsz: side of the square model input, in pixels.

    Returns:
        ``(imgsz, imgsz, 3)`` uint8 BGR image.
    """
    h, w = image_bgr.shape[:2]
    r = min(imgsz / h, imgsz / w)
    new_w, new_h = max(round(w * r), 1), max(round(h * r), 1)
    if (w, h) != (new_w, new_h):
        image_bgr = cv2.resize(image_bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    dw, dh = (imgsz - new_w) / 2, (imgsz - new_h) / 2
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    return cv2.copyMakeBorder(image_bgr, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(_PAD_VALUE,) * 3)


def preprocess_image(path: Path, imgsz: int) -> np.ndarray:
    """Read an image and turn it into the model input: letterbox, BGR→RGB, /255, ``(1, 3, imgsz, imgsz)`` float32.

    Raises:
        FileNotFoundError: the image cannot be read.
    """
    image = cv2.imread(str(path))
    if image is None:
        raise FileNotFoundError(f"calibration image cannot be read: {path}")
    rgb = letterbox(image, imgsz)[:, :, ::-1]
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0


class LetterboxCalibrationReader:
    """onnxruntime ``CalibrationDataReader`` over image files, preprocessed like Ultralytics' predictor.

    Yields ``{input_name: (batch, 3, imgsz, imgsz) float32}`` until ``len(images)`` images were given; the last batch
    is smaller when the count does not divide (only valid for models with a dynamic batch axis).
    onnxruntime accepts it by duck typing (``CalibrationDataReader.__subclasshook__`` checks ``get_next``).

    Args:
        images: calibration image files (from the *train* split), all used, in order.
        imgsz: square model input side in pixels.
        input_name: the ONNX graph input to feed.
        batch: images per sample.
    """

    def __init__(self, images: Sequence[Path], *, imgsz: int, input_name: str = "images", batch: int = 1) -> None:
        if not images:
            raise ValueError("calibration needs at least one image; got an empty list")
        self.images = [Path(p) for p in images]
        self.imgsz = imgsz
        self.input_name = input_name
        self.batch = batch
        self._batches = self._iter_batches()

    def _iter_batches(self) -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, len(self.images), self.batch):
            chunk = self.images[start : start + self.batch]
            yield {self.input_name: np.concatenate([preprocess_image(p, self.imgsz) for p in chunk])}

    def get_next(self) -> dict[str, np.ndarray] | None:
        """Next calibration sample, or ``None`` when all images were given."""
        return next(self._batches, None)

    def rewind(self) -> None:
        """Start again from the first image."""
        self._batches = self._iter_batches()

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        self.rewind()
        return self._iter_batches()

    def __len__(self) -> int:
        return -(-len(self.images) // self.batch)


# --------------------------------------------------------------------------------------------------- ONNX helpers
def head_nodes_to_exclude(model: Any) -> tuple[list[str], str]:
    """Names of the detection head's non-Conv nodes, and the head's module name.

    The head is the last Ultralytics module (highest ``N`` in node names ``/model.N/...``: ``Detect`` is always last);
    nodes with no ``/model.N/`` prefix (added after the head, e.g. by an export's post-processing) count as head too.
    Conv nodes stay quantized: only the decode (Sigmoid/Mul activations, Reshape, Concat, Split, Softmax, Slice,
    Sub/Add/Div/Mul box arithmetic) stays float.

    Args:
        model: an ``onnx.ModelProto``.

    Returns:
        (node names to exclude, head module name such as ``"model.23"``).
    """
    indices = [int(m.group(1)) for n in model.graph.node if (m := _HEAD_NODE.match(n.name))]
    if not indices:
        raise ValueError("no '/model.N/' node names in this ONNX graph: not an Ultralytics YOLO export?")
    head = f"/model.{max(indices)}/"
    names = [
        n.name
        for n in model.graph.node
        if n.op_type != "Conv" and (n.name.startswith(head) or not _HEAD_NODE.match(n.name))
    ]
    return names, head.strip("/")


def _onnx_input(model: Any) -> tuple[str, int]:
    """Name of the graph's image input and its batch size (1 when the batch axis is dynamic)."""
    initializers = {i.name for i in model.graph.initializer}
    graph_input = next(i for i in model.graph.input if i.name not in initializers)
    dim = graph_input.type.tensor_type.shape.dim[0]
    return graph_input.name, dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else 1


OnnxQuantFacts = OnnxFacts
"""What decides whether an ONNX method can serve a file: :class:`~yololab.adapters.onnx_files.OnnxFacts`."""


def onnx_quant_facts(path: Path, method: str = "onnx") -> OnnxQuantFacts:
    """Read :class:`OnnxQuantFacts` from an ONNX file.

    Args:
        path: the ONNX file.
        method: the method that asks, named in the error.

    Raises:
        FileNotFoundError: no such file.
        UnquantizableModelError: the file is not a readable ONNX model.
    """
    try:
        return read_onnx_facts(path)
    except ValueError as exc:
        raise UnquantizableModelError(
            path, method, f"it is not a readable ONNX model or has no input ({_first_line(exc)})",
            "Pass an FP32 .onnx exported by Ultralytics (or any exporter), or the .pt",
        ) from exc  # fmt: skip


def check_onnx_servable(facts: OnnxQuantFacts, method: str, *, imgsz: int) -> None:
    """Raise :class:`UnquantizableModelError` when ``method`` cannot serve the file ``facts`` describes.

    Checked before any work: an already quantized graph, a non-float32 input (all ``onnx-*`` methods); for
    ``onnx-int8-static`` also opset < 13, no ``/model.N/`` node names, and a fixed input size other than ``imgsz``.
    Everything else (opset 13 up to the newest onnxruntime runs, dynamic axes, missing metadata) is served.
    """
    path = facts.path

    def fail(reason: str, advice: str) -> None:
        raise UnquantizableModelError(path, method, reason, advice)

    if facts.quantized_nodes:
        fail(
            f"it is already quantized ({facts.quantized_nodes} QuantizeLinear/DequantizeLinear/QLinear*/*Integer "
            "nodes)",
            "Benchmark it as it is, or quantize its FP32 original",
        )
    if facts.input_type != "float32":
        fail(
            f"its input is {facts.input_type}, not float32 (an FP16 export?)",
            "Re-export it in FP32 (Ultralytics: export(format='onnx') without half=True) and quantize that, or pass "
            "the .pt to ultralytics-int8",
        )
    if method != "onnx-int8-static":
        return
    if facts.opset < MIN_STATIC_OPSET:
        fail(
            f"its opset is {facts.opset}; per-channel QDQ (QuantizeLinear/DequantizeLinear with an axis) needs opset "
            f">= {MIN_STATIC_OPSET}",
            f"onnx-int8-dynamic and onnx-fp16 serve opset {facts.opset}; for static INT8 re-export with opset >= "
            f"{MIN_STATIC_OPSET} (Ultralytics: export(format='onnx', opset={MIN_STATIC_OPSET}))",
        )
    if not facts.yolo_names:
        fail(
            "its nodes have no Ultralytics '/model.N/' names, so the detection head, whose decode must stay float, "
            "cannot be found",
            "onnx-int8-dynamic and onnx-fp16 need no head exclusion; or export the .pt with Ultralytics "
            "(export(format='onnx'))",
        )
    hw = facts.fixed_hw
    if hw is not None and hw != (imgsz, imgsz):
        advice = f"Pass imgsz={hw[0]}" if hw[0] == hw[1] else "Export a square input"
        fail(
            f"its input is fixed at {hw[0]}x{hw[1]} but calibration letterboxes to imgsz={imgsz}",
            f"{advice}, or re-export with dynamic=True (Ultralytics: export(format='onnx', dynamic=True))",
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:400]


@contextlib.contextmanager
def _onnxruntime_errors(path: Path, method: str, stage: str) -> Iterator[None]:
    """Turn a failure inside onnx/onnxruntime into :class:`UnquantizableModelError` (file, why, which method can).

    onnxruntime raises its own classes (``Fail``, ``InvalidGraph``, ``InvalidArgument``), bare ``Exception`` (shape
    inference) or onnx's ``ValidationError``; the CLI would print them as a long traceback. A missing calibration
    image (``FileNotFoundError``) and our own errors pass through unchanged.
    """
    try:
        yield
    except (UnquantizableModelError, FileNotFoundError):
        raise
    except Exception as exc:
        raise UnquantizableModelError(
            path, method, f"{stage} failed ({type(exc).__name__}: {_first_line(exc)})", _OTHER_METHODS_ADVICE[method]
        ) from exc


def _check_runs(quantized: Path, method: str, facts: OnnxQuantFacts, *, imgsz: int, source: Path) -> None:
    """Load ``quantized`` as Ultralytics does (CPU, default = full graph optimizations) and run it once.

    Graph optimizations rewrite QDQ graphs at session creation (see :func:`_quantize_onnx_static`), so a file that
    onnxruntime's quantizer wrote can still fail here; this finds it before the caller validates or benchmarks.
    """
    import onnxruntime as ort

    channels = facts.input_shape[1] if len(facts.input_shape) > 1 and isinstance(facts.input_shape[1], int) else 3
    h, w = facts.fixed_hw or (imgsz, imgsz)
    sample = np.full(((facts.fixed_batch or 1), channels, h, w), 0.5, dtype=np.float32)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    stage = f"loading and running the quantized file {quantized.name} in onnxruntime (CPU, full graph optimizations)"
    with _onnxruntime_errors(source, method, stage):
        session = ort.InferenceSession(str(quantized), options, providers=["CPUExecutionProvider"])
        session.run(None, {facts.input_name: sample})


def _copy_metadata(source: Path, target: Path, method: str) -> None:
    """Copy Ultralytics' metadata (names, imgsz, stride, task) onto a quantized model and record the method."""
    import onnx

    src, dst = onnx.load(str(source)), onnx.load(str(target))
    present = {p.key for p in dst.metadata_props}
    for prop in src.metadata_props:
        if prop.key not in present:
            dst.metadata_props.add(key=prop.key, value=prop.value)
    dst.metadata_props.add(key="yololab_quantization", value=method)
    onnx.save(dst, str(target))


def _versions(*modules: str) -> dict[str, str]:
    out = {}
    for name in modules:
        try:
            out[f"{name}_version"] = str(importlib.import_module(name).__version__)
        except (ImportError, AttributeError):
            continue
    return out


def _quantize_onnx_static(
    original: Path, target: Path, *, imgsz: int, calibration_images: Sequence[Path]
) -> dict[str, str]:
    """Static QDQ quantization: per-channel INT8 weights, UINT8 activations, the head's decode kept float.

    **Why UINT8 activations — the opset >= 21 failure.** With INT8 (signed) activations, every file at opset 21 or
    newer (Ultralytics exports opset 22 when asked, and by default with some torch versions) quantized without error
    but could not be *loaded*: ``[TypeInferenceError] output_dtype INT8 does not match y_zero_point type UINT8``
    (node ``/model.22/Reshape_output_0_q`` on a YOLOv8, ``/model.23/Reshape_3_output_0_q`` on a YOLO11). That node is
    not written by the quantizer; onnxruntime's graph optimizer makes it when a session is created:

    1. ``QDQPropagationTransformer`` pushes each DequantizeLinear forward through the float Reshape/Slice/Transpose
       nodes that follow it — here the excluded head's Reshapes right after its quantized Convs — by inserting a new
       Q/DQ pair behind them (``<tensor>_q`` / ``<tensor>_dq``, doc string "Inserted by QDQPropagationTransformer").
       From opset 21, where QuantizeLinear has an ``output_dtype`` attribute, onnxruntime 1.32 sets it on the Q it
       inserts, to the DQ's type: ``output_dtype=INT8`` (the quantizer's own Qs leave it unset; seen in the graph
       onnxruntime saves with ``SessionOptions.optimized_model_filepath`` when QDQS8ToU8Transformer is disabled).
    2. ``QDQS8ToU8Transformer`` (x86 CPU execution provider: its 8-bit kernels take unsigned activations) then turns
       every INT8 Q->DQ pair into UINT8 by adding 128 to the zero point; it swaps the zero-point inputs only
       (``qdq_s8_to_u8.cc``: ``q_input_defs[zp_idx] = zp_u8_arg``) and never looks at ``output_dtype``.
    3. ONNX's QuantizeLinear-21 type inference sees ``output_dtype=INT8`` with a UINT8 zero point and fails
       ``Graph::Resolve``.

    Disabling either transformer, or using opset <= 20 (no ``output_dtype``), avoids it, which is why yololab's own
    exports (opset 18 by Ultralytics' default here) always worked. UINT8 activations remove the cause at every
    opset: step 2 has nothing to convert and the inserted Q's ``output_dtype`` (UINT8) equals its zero point's type.
    Accuracy is unchanged: with the same MinMax range the UINT8 scale equals the INT8 one and the zero point moves by
    128, and the x86 CPU execution provider ran INT8 activations as UINT8 anyway (step 2). Measured at opset 13, where
    both load: yolo11n (64 px) gave bit-identical outputs; the YOLOv8s fall detector mAP50 0.641 (INT8) vs 0.639
    (UINT8) at 160 px and 0.899 vs 0.895 at 320 px (FP32 0.670 / 0.931). U8S8 (unsigned activations, signed weights)
    is also what onnxruntime recommends for CPUs (``quantize_static``'s docstring, ``get_qdq_config``'s default) and
    what Ultralytics' own INT8 export uses (onnxruntime's defaults).

    ``quant_pre_process`` runs without symbolic shape inference: on Ultralytics' ``dynamic=True`` exports it raises
    "Incomplete symbolic shape inference" and leaves ``sym_shape_infer_temp.onnx`` plus a weights ``.data`` file in the
    current directory. ONNX's shape inference, which still runs, is enough for a CNN (on fixed-shape exports the
    quantized models gave identical outputs with and without the symbolic pass).
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    method = "onnx-int8-static"
    with tempfile.TemporaryDirectory(prefix="yololab-quant-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        with _onnxruntime_errors(original, method, "onnxruntime's quant_pre_process"):
            quant_pre_process(str(original), str(prepared), skip_symbolic_shape=True)
        model = onnx.load(str(prepared))
        exclude, head = head_nodes_to_exclude(model)
        input_name, batch = _onnx_input(model)
        usable = len(calibration_images) // batch * batch  # a fixed batch axis takes only full batches
        if usable == 0:
            raise ValueError(f"the model's batch is {batch}: pass at least {batch} calibration images")
        images = list(calibration_images)[:usable]
        reader = LetterboxCalibrationReader(images, imgsz=imgsz, input_name=input_name, batch=batch)
        with _onnxruntime_errors(original, method, "onnxruntime's quantize_static"):
            quantize_static(
                str(prepared),
                str(target),
                reader,
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,  # not QInt8: see the docstring (opset >= 21)
                weight_type=QuantType.QInt8,
                nodes_to_exclude=exclude,
                calibrate_method=CalibrationMethod.MinMax,
            )
        n_nodes = len(model.graph.node)
    return {
        "quant_format": "QDQ",
        "weight_type": "QInt8 per-channel",
        "activation_type": "QUInt8 (asymmetric)",
        "calibrate_method": "MinMax",
        "calibration_images": str(len(reader.images)),
        "calibration_batch": str(batch),
        "preprocess": "onnxruntime quant_pre_process (ONNX shape inference, no symbolic pass)",
        "nodes_total": str(n_nodes),
        "head_module": head,
        "nodes_excluded": str(len(exclude)),
        "nodes_excluded_reason": (
            f"detection head ({head}) non-Conv nodes stay float: its decode mixes box pixels and class "
            "probabilities in one tensor, which one 8-bit scale cannot hold"
        ),
    }


def _quantize_onnx_dynamic(original: Path, target: Path) -> dict[str, str]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _onnxruntime_errors(original, "onnx-int8-dynamic", "onnxruntime's quantize_dynamic"):
        quantize_dynamic(str(original), str(target), weight_type=QuantType.QInt8)
    return {"weight_type": "QInt8", "activation_type": "dynamic (ranges computed per inference)"}


def _convert_onnx_fp16(original: Path, target: Path) -> dict[str, str]:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    with _onnxruntime_errors(original, "onnx-fp16", "onnxruntime's convert_float_to_float16"):
        model = convert_float_to_float16(onnx.load(str(original)), keep_io_types=True)
        onnx.save(model, str(target))
    return {
        "weight_type": "float16",
        "io_types": "float32 (keep_io_types)",
        "converter": "onnxruntime.transformers.float16",
        "cpu_note": "onnxruntime's CPU EP lacks most FP16 kernels and inserts Casts to float32 around them",
    }


# --------------------------------------------------------------------------------------------------- Ultralytics
def _yolo(weights: Path) -> Any:
    """``YOLO(weights)``, prepared for offline use when ``yololab.adapters.ultralytics_env`` exists."""
    try:
        from yololab.adapters.ultralytics_env import prepare_ultralytics_offline  # type: ignore[import-not-found]
    except ImportError:
        pass  # the caller prepared the environment
    else:
        prepare_ultralytics_offline()
    from ultralytics import YOLO

    return YOLO(str(weights))


def _private_copy(weights_pt: Path, workdir: Path) -> Any:
    """``YOLO`` of a private copy of ``weights_pt`` in ``workdir`` (Ultralytics writes its exports next to it)."""
    workdir.mkdir(parents=True, exist_ok=True)
    private = workdir / weights_pt.name
    shutil.copy2(weights_pt, private)
    return _yolo(private)


def _export(model: Any, **export_args: Any) -> Path:
    """``model.export(...)`` of a ``YOLO`` of a private copy (:func:`_private_copy`), quietly; the exported path."""
    with warnings.catch_warnings():  # torch.jit's deprecation notices on every export: not the user's concern
        warnings.simplefilter("ignore", FutureWarning)
        return Path(model.export(device=export_args.pop("device", "cpu"), verbose=False, **export_args))


def _move(source: Path, target: Path) -> Path:
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    shutil.move(str(source), str(target))
    return target


def export_onnx_fp32(weights_pt: Path, out_dir: Path, *, imgsz: int, batch: int = 1, dynamic: bool = False) -> Path:
    """Export ``weights_pt`` to an FP32 ONNX with Ultralytics and copy it to ``out_dir/<stem>_fp32.onnx``.

    Args:
        weights_pt: Ultralytics ``.pt`` weights; left untouched (a private copy is exported).
        out_dir: folder for the result (created).
        imgsz: square input side in pixels.
        batch: fixed batch size of the graph input.
        dynamic: dynamic batch and image axes.

    Returns:
        Path of the FP32 ONNX file.
    """
    weights_pt, out_dir = Path(weights_pt), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="yololab-export-", dir=out_dir) as tmp:
        private = _private_copy(weights_pt, Path(tmp))
        exported = _export(private, format="onnx", imgsz=imgsz, batch=batch, dynamic=dynamic)
        return _move(exported, out_dir / f"{weights_pt.stem}_fp32.onnx")


def export_openvino_fp32(weights_pt: Path, out_dir: Path, *, imgsz: int) -> Path:
    """Export ``weights_pt`` to an FP32 OpenVINO model folder ``out_dir/<stem>_openvino_model`` (Ultralytics).

    Raises:
        QuantizationUnavailable: the ``openvino`` package is not installed.
    """
    if not _has_module("openvino"):
        raise QuantizationUnavailable("openvino needs the openvino package: pip install 'yololab[openvino]'")
    weights_pt, out_dir = Path(weights_pt), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="yololab-export-", dir=out_dir) as tmp:
        exported = _export(_private_copy(weights_pt, Path(tmp)), format="openvino", imgsz=imgsz, batch=1)
        return _move(exported, out_dir / f"{weights_pt.stem}_openvino_model")


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        target.symlink_to(source.resolve())
    except OSError:
        shutil.copy2(source, target)


def _calibration_yaml(calibration_images: Sequence[Path], data_yaml: Path | None, names: dict, workdir: Path) -> Path:
    """A data YAML whose train (and val) split is exactly the calibration images, linked into ``workdir``.

    Links (not the caller's folders) keep Ultralytics' label cache (``labels/<split>.cache``) out of the dataset;
    label files are linked when present next to the images (``images/`` -> ``labels/``), though calibration reads
    only the pixels.
    """
    import yaml

    images, labels = workdir / "images" / "calibration", workdir / "labels" / "calibration"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    for i, path in enumerate(Path(p) for p in calibration_images):
        name = f"{i:06d}_{path.name}"
        _link_or_copy(path, images / name)
        label = Path(str(path.parent).replace(f"{os.sep}images", f"{os.sep}labels")) / f"{path.stem}.txt"
        if label.is_file():
            _link_or_copy(label, labels / f"{Path(name).stem}.txt")
    if data_yaml is not None:
        names = yaml.safe_load(Path(data_yaml).read_text()).get("names", names)
    data = {"path": str(workdir), "train": "images/calibration", "val": "images/calibration", "names": names}
    target = workdir / "calibration.yaml"
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def _quiet_nncf() -> None:
    """NNCF logs one INFO line per operation it leaves unquantized (hundreds): keep its warnings only."""
    import logging

    logging.getLogger("nncf").setLevel(logging.WARNING)
    with contextlib.suppress(ImportError, AttributeError):
        import nncf

        nncf.set_log_level(logging.WARNING)


def _export_ultralytics(
    weights_pt: Path,
    method: str,
    out_dir: Path,
    *,
    imgsz: int,
    calibration_images: Sequence[Path],
    data_yaml: Path | None,
    device: str,
) -> tuple[Path, dict[str, str]]:
    stem = weights_pt.stem
    fmt, quantize, suffix = {
        "ultralytics-int8": ("onnx", 8, "_ultralytics_int8.onnx"),
        "openvino-int8": ("openvino", 8, "_int8_openvino_model"),
        "tensorrt-fp16": ("engine", 16, "_fp16.engine"),
        "tensorrt-int8": ("engine", 8, "_int8.engine"),
    }[method]
    args: dict[str, Any] = {"format": fmt, "imgsz": imgsz, "batch": 1, "quantize": quantize, "device": device}
    if method == "openvino-int8":
        _quiet_nncf()
    details = {"export": f"ultralytics format={fmt} quantize={quantize}"}
    with tempfile.TemporaryDirectory(prefix="yololab-export-", dir=out_dir) as tmp:
        private = _private_copy(weights_pt, Path(tmp) / "weights")  # loaded once: its names, then its export
        if method in _CALIBRATED_METHODS:
            names = dict(private.names)
            args |= {"data": str(_calibration_yaml(calibration_images, data_yaml, names, Path(tmp))), "split": "train"}
            details |= {"calibration_images": str(len(calibration_images)), "calibration_batch": "1"}
        exported = _export(private, **args)
        quantized = _move(exported, out_dir / f"{stem}{suffix}")
    if method == "ultralytics-int8":
        details |= {"quant_format": "QDQ", "nodes_excluded_reason": "Ultralytics: every non-Conv/Gemm/MatMul node"}
    return quantized, details


# --------------------------------------------------------------------------------------------------- entry point
def quantize(
    original: Path,
    method: QuantMethod,
    out_dir: Path,
    *,
    imgsz: int,
    calibration_images: Sequence[Path],
    data_yaml: Path | None = None,
    device: str = "cpu",
    onnx_baseline: bool = True,
) -> ExportedPair:
    """Quantize ``original`` with ``method`` into ``out_dir``.

    Args:
        original: Ultralytics ``.pt`` weights (exported to FP32 ONNX first, the baseline) or an FP32 ``.onnx``
            (``onnx-*`` methods only: the other methods export from the ``.pt``).
        method: one of :data:`QUANT_METHODS`.
        out_dir: folder for the FP32 ONNX and the quantized artifact (created).
        imgsz: square model input side in pixels.
        calibration_images: images from the *train* split used to calibrate activation ranges, all of them (pick
            the calibration size by slicing); ignored by methods that do not calibrate.
        data_yaml: the dataset YAML, read for class names only (calibration uses ``calibration_images``).
        device: where the quantized model is meant to run; TensorRT needs a CUDA device.
        onnx_baseline: export the FP32 ONNX baseline for the methods that start from the ``.pt`` (a format sweep,
            which has its own baseline, turns it off: ``original`` is then the ``.pt``).

    Returns:
        The FP32 ONNX baseline and the quantized artifact, with ``details`` for tags.

    Raises:
        QuantizationUnavailable: the method cannot run here (see :func:`check_available`).
        UnquantizableModelError: an ``onnx-*`` method cannot serve this ONNX file (checked before any work, see
            :func:`check_onnx_servable`), or onnxruntime failed on it; the message names the file, why, and which
            method can. A ``ValueError``.
        ValueError: a ``.pt``-only method got an ``.onnx``, or a calibrated method got no images.
    """
    check_available(method, device)
    original, out_dir = Path(original), Path(out_dir)
    if original.suffix not in {".pt", ".onnx"}:
        raise ValueError(f"original must be an Ultralytics .pt or an FP32 .onnx, got {original}")
    if method in _PT_ONLY_METHODS and original.suffix != ".pt":
        raise ValueError(f"{method} exports from the PyTorch weights: pass the .pt, got {original}")
    if method in _CALIBRATED_METHODS and not calibration_images:
        raise ValueError(f"{method} calibrates activations: pass calibration images from the train split")
    facts = None
    if original.suffix == ".onnx" and method in _ONNX_METHODS:
        facts = onnx_quant_facts(original, method)  # a file from elsewhere: say what cannot be served before any work
        check_onnx_servable(facts, method, imgsz=imgsz)
    out_dir.mkdir(parents=True, exist_ok=True)
    needs_onnx = method in _ONNX_METHODS or onnx_baseline
    if original.suffix == ".onnx" or not needs_onnx:
        onnx_fp32 = original
    else:
        onnx_fp32 = export_onnx_fp32(original, out_dir, imgsz=imgsz)
    details = {
        "method": method,
        "original_format": "onnx-fp32" if onnx_fp32.suffix == ".onnx" else "pt",
        **_versions("onnx", "onnxruntime"),
    }
    if method in _ONNX_METHODS:
        if facts is None:
            facts = onnx_quant_facts(onnx_fp32, method)
            check_onnx_servable(facts, method, imgsz=imgsz)
        quantized, extra = _quantize_onnx(
            onnx_fp32, method, out_dir, imgsz=imgsz, images=calibration_images, facts=facts
        )
    else:
        quantized, extra = _export_ultralytics(
            original,
            method,
            out_dir,
            imgsz=imgsz,
            calibration_images=calibration_images,
            data_yaml=data_yaml,
            device=device,
        )
        details |= _versions("ultralytics")
    return ExportedPair(original=onnx_fp32, quantized=quantized, method=method, details=details | extra)


def _quantize_onnx(
    onnx_fp32: Path, method: str, out_dir: Path, *, imgsz: int, images: Sequence[Path], facts: OnnxQuantFacts
) -> tuple[Path, dict[str, str]]:
    stem = onnx_fp32.stem.removesuffix("_fp32")
    target = out_dir / f"{stem}_{method.removeprefix('onnx-').replace('-', '_')}.onnx"
    if method == "onnx-int8-static":
        extra = _quantize_onnx_static(onnx_fp32, target, imgsz=imgsz, calibration_images=images)
    elif method == "onnx-int8-dynamic":
        extra = _quantize_onnx_dynamic(onnx_fp32, target)
    else:
        extra = _convert_onnx_fp16(onnx_fp32, target)
    _copy_metadata(onnx_fp32, target, method)
    _check_runs(target, method, facts, imgsz=imgsz, source=onnx_fp32)
    extra |= {
        "onnx_opset": str(facts.opset),
        "input_shape": "x".join(str(d) for d in facts.input_shape),
        "ultralytics_metadata": "yes" if {"names", "imgsz"} <= facts.metadata.keys() else "no",
        "load_check": "onnxruntime CPU session, full graph optimizations, one inference",
    }
    return target, extra

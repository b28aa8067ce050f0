"""Quantize a YOLO detector: the methods the QuantizationRunner compares against the FP32 ONNX original.

Every method returns an :class:`ExportedPair`: ``original`` is the FP32 ONNX model (exported from the ``.pt`` when a
``.pt`` is given, else the given ``.onnx``) and ``quantized`` is the artifact of the method, both in ``out_dir``.

Methods (see ``docs/quantization.md`` for what was measured):

- ``onnx-int8-static``: onnxruntime ``quantize_static``, QDQ, per-channel INT8 weights, INT8 activations calibrated
  (MinMax) on the given images, letterboxed exactly like Ultralytics' predictor. The detection head's non-Conv nodes
  are excluded: its decode concatenates box pixels (0..imgsz) and class probabilities (0..1) in one tensor, which one
  INT8 scale cannot represent (mAP collapses to 0 without the exclusion).
- ``onnx-int8-dynamic``: onnxruntime ``quantize_dynamic`` (INT8 weights, activation ranges computed per inference).
- ``onnx-fp16``: ``onnxruntime.transformers.float16`` with float32 inputs/outputs kept, so Ultralytics can feed it.
- ``ultralytics-int8``: Ultralytics' own ONNX INT8 export (``quantize=8``), calibrated on the same images.
- ``openvino-int8``: Ultralytics' OpenVINO export with NNCF INT8 (optional extra ``yololab[openvino]``).
- ``tensorrt-fp16`` / ``tensorrt-int8``: Ultralytics' TensorRT engine export (NVIDIA GPU and ``tensorrt`` needed).

Calibration images are the caller's choice and must come from the *train* split, never from the data that is scored.
Ultralytics writes exports next to the ``.pt`` (overwriting, and its ONNX INT8 export deletes the FP32 ONNX), so each
export here runs on a private copy of the weights in a scratch folder and its result is moved into ``out_dir``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import cv2
import numpy as np

from yololab.config import QuantMethod

QUANT_METHODS: tuple[str, ...] = get_args(QuantMethod)

_ONNX_METHODS = frozenset({"onnx-int8-static", "onnx-int8-dynamic", "onnx-fp16"})
_CALIBRATED_METHODS = frozenset({"onnx-int8-static", "ultralytics-int8", "openvino-int8", "tensorrt-int8"})
_PT_ONLY_METHODS = frozenset({"ultralytics-int8", "openvino-int8", "tensorrt-fp16", "tensorrt-int8"})
_HEAD_NODE = re.compile(r"^/model\.(\d+)/")
_PAD_VALUE = 114  # Ultralytics LetterBox padding grey


class QuantizationUnavailable(RuntimeError):  # noqa: N818 (name fixed by the runner API)
    """A quantization method cannot run here; the message says what is missing and how to get it."""


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


def _is_cuda_device(device: str) -> bool:
    """``cuda``, ``cuda:0``, ``0`` or ``0,1`` name an NVIDIA GPU; ``cpu`` and ``mps`` do not."""
    name = str(device).strip().lower()
    return name.startswith("cuda") or bool(re.fullmatch(r"\d+(,\d+)*", name))


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
    if not _is_cuda_device(device):
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
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="yololab-quant-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(original), str(prepared))
        model = onnx.load(str(prepared))
        exclude, head = head_nodes_to_exclude(model)
        input_name, batch = _onnx_input(model)
        usable = len(calibration_images) // batch * batch  # a fixed batch axis takes only full batches
        if usable == 0:
            raise ValueError(f"the model's batch is {batch}: pass at least {batch} calibration images")
        images = list(calibration_images)[:usable]
        reader = LetterboxCalibrationReader(images, imgsz=imgsz, input_name=input_name, batch=batch)
        quantize_static(
            str(prepared),
            str(target),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=exclude,
            calibrate_method=CalibrationMethod.MinMax,
        )
        n_nodes = len(model.graph.node)
    return {
        "quant_format": "QDQ",
        "weight_type": "QInt8 per-channel",
        "activation_type": "QInt8",
        "calibrate_method": "MinMax",
        "calibration_images": str(len(reader.images)),
        "calibration_batch": str(batch),
        "preprocess": "onnxruntime quant_pre_process",
        "nodes_total": str(n_nodes),
        "head_module": head,
        "nodes_excluded": str(len(exclude)),
        "nodes_excluded_reason": (
            f"detection head ({head}) non-Conv nodes stay float: its decode mixes box pixels and class "
            "probabilities in one tensor, which one INT8 scale cannot hold"
        ),
    }


def _quantize_onnx_dynamic(original: Path, target: Path) -> dict[str, str]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(original), str(target), weight_type=QuantType.QInt8)
    return {"weight_type": "QInt8", "activation_type": "dynamic (ranges computed per inference)"}


def _convert_onnx_fp16(original: Path, target: Path) -> dict[str, str]:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

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


def _export_private(weights_pt: Path, workdir: Path, **export_args: Any) -> Path:
    """Export a private copy of ``weights_pt`` in ``workdir`` (Ultralytics writes next to the weights)."""
    workdir.mkdir(parents=True, exist_ok=True)
    private = workdir / weights_pt.name
    shutil.copy2(weights_pt, private)
    return Path(_yolo(private).export(device=export_args.pop("device", "cpu"), verbose=False, **export_args))


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
        exported = _export_private(weights_pt, Path(tmp), format="onnx", imgsz=imgsz, batch=batch, dynamic=dynamic)
        return _move(exported, out_dir / f"{weights_pt.stem}_fp32.onnx")


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
    details = {"export": f"ultralytics format={fmt} quantize={quantize}"}
    with tempfile.TemporaryDirectory(prefix="yololab-export-", dir=out_dir) as tmp:
        if method in _CALIBRATED_METHODS:
            names = dict(_yolo(weights_pt).names)
            args |= {"data": str(_calibration_yaml(calibration_images, data_yaml, names, Path(tmp))), "split": "train"}
            details |= {"calibration_images": str(len(calibration_images)), "calibration_batch": "1"}
        exported = _export_private(weights_pt, Path(tmp) / "weights", **args)
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

    Returns:
        The FP32 ONNX baseline and the quantized artifact, with ``details`` for tags.

    Raises:
        QuantizationUnavailable: the method cannot run here (see :func:`check_available`).
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
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_fp32 = original if original.suffix == ".onnx" else export_onnx_fp32(original, out_dir, imgsz=imgsz)
    details = {"method": method, "original_format": "onnx-fp32", **_versions("onnx", "onnxruntime")}
    if method in _ONNX_METHODS:
        quantized, extra = _quantize_onnx(onnx_fp32, method, out_dir, imgsz=imgsz, images=calibration_images)
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
    onnx_fp32: Path, method: str, out_dir: Path, *, imgsz: int, images: Sequence[Path]
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
    return target, extra

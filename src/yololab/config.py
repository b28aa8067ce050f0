"""Experiment configuration: one YAML schema for train, infer and quant experiments (pydantic v2).

A config file is one :class:`ExperimentConfig`. Every model forbids unknown fields, so a typo is an error that names
the field, the value given and what was expected (with the file and line)::

    kind: train                      # train | infer | quant
    experiment: yololab              # MLflow experiment
    model: yolo11n.yaml              # model YAML (trained from scratch) or a local .pt / .onnx
    data:
      synthetic: {seed: 0}           # generate the synthetic world into data.root (default) ...
      # yaml: path/to/data.yaml      # ... or use a YOLO dataset (+ optional mot_dir)
    train: {epochs: 30, batch: 16}

The section named by ``kind`` is filled with its defaults when omitted (``quant`` also fills ``infer``, whose
benchmark settings it uses). Relative paths are relative to the working directory, as on the command line.

Overrides address fields by dotted path (``{"train.epochs": 3}``, ``--set train.epochs=3``); see :func:`load_config`
and :func:`parse_set_option`. ``yololab.adapters.mlflow_params.config_to_params`` flattens a config into MLflow params
with secrets redacted.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from yololab.data.synthetic_config import SyntheticWorldConfig

ExperimentKind = Literal["train", "infer", "quant"]
QuantMethod = Literal[
    "onnx-int8-static",
    "onnx-int8-dynamic",
    "ultralytics-int8",
    "onnx-fp16",
    "openvino-int8",
    "tensorrt-fp16",
    "tensorrt-int8",
]
Optimizer = Literal["auto", "SGD", "MuSGD", "Adam", "Adamax", "AdamW", "NAdam", "RAdam", "RMSprop"]



class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TrackingConfig(_Section):
    """Where runs are recorded (MLflow)."""

    uri: str | None = Field(
        None, description="MLflow tracking URI; None: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db."
    )
    journal_dir: Path | None = Field(
        None, description="Folder spooling MLflow calls that failed (replayable); None: <output_dir>/journal."
    )


class DataConfig(_Section):
    """The data: the synthetic world (default) or a YOLO ``data.yaml`` (+ optional MOTChallenge folder)."""

    synthetic: SyntheticWorldConfig | None = Field(
        None, description="Generate the synthetic world with these settings (the default when yaml is not given)."
    )
    root: Path = Field(
        Path("yololab-data/synthetic"), description="Folder the synthetic world is generated into (and reused)."
    )
    yaml: Path | None = Field(None, description="A YOLO dataset file (data.yaml) instead of the synthetic world.")
    mot_dir: Path | None = Field(
        None, description="MOTChallenge-layout folder (<seq>/img1, <seq>/gt/gt.txt) for tracking, with yaml."
    )

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if self.yaml is not None and self.synthetic is not None:
            raise ValueError("expected either data.synthetic or data.yaml, not both")
        if self.yaml is None and self.synthetic is None:
            object.__setattr__(self, "synthetic", SyntheticWorldConfig())
        if self.yaml is None and self.mot_dir is not None:
            raise ValueError(
                "expected data.mot_dir only with data.yaml (the synthetic world writes its own MOT sequences)"
            )
        return self

    @property
    def is_synthetic(self) -> bool:
        """Whether the data is the generated synthetic world."""
        return self.yaml is None


class TrainConfig(_Section):
    """Training settings (passed to Ultralytics ``model.train``)."""

    epochs: int = Field(30, ge=1, description="Number of epochs.")
    batch: int = Field(16, ge=1, description="Batch size.")
    workers: int = Field(0, ge=0, description="Data loader worker processes (0: load in the main process).")
    patience: int = Field(100, ge=0, description="Epochs without improvement before stopping early.")
    optimizer: Optimizer = Field(
        "auto", description="Optimizer; 'auto' lets Ultralytics choose (it then ignores lr0 and momentum)."
    )
    lr0: float = Field(0.01, gt=0, description="Initial learning rate.")
    lrf: float = Field(0.01, gt=0, le=1, description="Final learning rate as a fraction of lr0.")
    momentum: float = Field(0.937, ge=0, lt=1, description="SGD momentum / Adam beta1.")
    weight_decay: float = Field(0.0005, ge=0, description="Weight decay.")
    warmup_epochs: float = Field(3.0, ge=0, description="Warm-up epochs.")
    cos_lr: bool = Field(False, description="Cosine learning-rate schedule.")
    close_mosaic: int = Field(10, ge=0, description="Turn mosaic augmentation off for the last N epochs.")
    cache: bool | Literal["ram", "disk"] = Field(False, description="Cache images in RAM or on disk.")
    val: bool = Field(True, description="Validate every epoch (needed for det.* per epoch).")
    plots: bool = Field(False, description="Let Ultralytics draw its plots.")
    extra_args: dict[str, Any] = Field(
        default_factory=dict, description="Further Ultralytics train arguments, passed as they are (e.g. hsv_h)."
    )


class MotTrackingConfig(_Section):
    """Multi-object tracking during inference (Ultralytics ``model.track``)."""

    enabled: bool = Field(False, description="Run the tracker over the MOT sequences and compute mot.* metrics.")
    tracker: str = Field("bytetrack", description="'bytetrack', 'botsort' or a path to a tracker YAML.")
    conf: float = Field(0.1, ge=0, le=1, description="Detection confidence threshold for tracking.")
    benchmark: Literal["auto", "MOT16", "MOT17", "MOT20", "none"] = Field(
        "auto",
        description="Evaluation protocol. MOT16/17/20: pedestrians only, MOTChallenge preprocessing (distractors "
        "removed, zero-marked ground truth ignored). none: per class. auto: MOT16/17/20 when every sequence name "
        "starts with it (as eval-mot), else none.",
    )
    classes: list[str | int] | None = Field(
        None,
        description="Model classes to track, by name or index (filtered before the tracker). None: under MOTChallenge "
        "the class named person/pedestrian; otherwise every model class that matches a ground-truth class.",
    )
    class_map: dict[str, str | int] = Field(
        default_factory=dict,
        description="Model class (name or index) -> ground-truth class (id, or name in the sequences' classes.txt).",
    )

    @field_validator("benchmark", mode="before")
    @classmethod
    def _benchmark_case(cls, value: Any) -> Any:
        if isinstance(value, str) and value.upper() in ("MOT16", "MOT17", "MOT20"):
            return value.upper()
        return value.lower() if isinstance(value, str) else value

    @field_validator("tracker")
    @classmethod
    def _check_tracker(cls, value: str) -> str:
        if value in ("bytetrack", "botsort") or value.endswith((".yaml", ".yml")):
            return value
        raise ValueError(f"expected 'bytetrack', 'botsort' or a path to a tracker .yaml, got {value!r}")


class InferConfig(_Section):
    """Inference benchmark settings (also the benchmark loop of a quant experiment)."""

    warmup: int = Field(10, ge=0, description="Untimed warm-up iterations.")
    iterations: int = Field(100, ge=1, description="Timed iterations.")
    batch_size: int = Field(1, ge=1, description="Batch size of the throughput loop (fps is always at batch 1).")
    threads: int | None = Field(None, ge=1, description="CPU threads for torch / onnxruntime; None: their default.")
    conf: float = Field(0.25, ge=0, le=1, description="Confidence threshold of the timed predictions.")
    iou: float = Field(0.7, ge=0, le=1, description="NMS IoU threshold.")
    half: bool = Field(False, description="FP16 inference (GPU only).")
    tracking: MotTrackingConfig = Field(default_factory=MotTrackingConfig, description="Tracking (mot.*).")


class GatesConfig(_Section):
    """Pass/fail gates of a quant experiment; None: not checked."""

    max_accuracy_drop: float | None = Field(
        None, ge=0, description="Largest accepted mAP50 drop (original - quantized), a fraction in [0, 1]."
    )
    min_speedup: float | None = Field(None, gt=0, description="Smallest accepted speed-up (original / quantized ms).")


class QuantConfig(_Section):
    """Quantization settings."""

    method: QuantMethod = Field("onnx-int8-static", description="Quantization method.")
    calibration_size: int = Field(64, ge=1, description="Images used to calibrate static INT8.")
    gates: GatesConfig = Field(default_factory=GatesConfig, description="Pass/fail gates.")


class ExperimentConfig(_Section):
    """One experiment: what to run, on which data and model, and where to record it."""

    kind: ExperimentKind = Field(description="Experiment type: train, infer or quant.")
    experiment: str = Field("yololab", min_length=1, description="MLflow experiment name.")
    run_name: str | None = Field(None, description="MLflow run name; None: generated.")
    tags: dict[str, str] = Field(default_factory=dict, description="Extra MLflow tags.")
    tracking: TrackingConfig = Field(default_factory=TrackingConfig, description="MLflow tracking.")
    data: DataConfig = Field(default_factory=DataConfig, description="Dataset.")
    model: str = Field(
        "yolo11n.yaml", min_length=1, description="Model YAML name (from scratch) or a path to a .pt / .onnx."
    )
    device: str = Field("cpu", min_length=1, description="Device: 'cpu', '0', 'cuda:0', ...")
    imgsz: int = Field(160, ge=32, description="Input size in pixels (square).")
    seed: int = Field(0, description="Random seed.")
    output_dir: Path = Field(Path("runs/yololab"), description="Folder for weights, exports and tables.")
    allow_class_mismatch: bool = Field(
        False,
        description="Measure a model whose class names are not the dataset's (at the same indices); refused by "
        "default, tagged yololab.class_check when allowed.",
    )
    train: TrainConfig | None = Field(None, description="Training settings (kind: train).")
    infer: InferConfig | None = Field(None, description="Inference settings (kind: infer; benchmark of quant).")
    quant: QuantConfig | None = Field(None, description="Quantization settings (kind: quant).")

    @field_validator("tags", mode="before")
    @classmethod
    def _tags_as_strings(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}
        return value

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: str) -> str:
        if value.endswith((".yaml", ".yml", ".pt", ".onnx")) or Path(value).is_dir():
            return value
        raise ValueError(
            f"expected a model YAML (e.g. 'yolo11n.yaml'), a .pt / .onnx file or an exported model folder, "
            f"got {value!r}"
        )

    @model_validator(mode="after")
    def _default_sections(self) -> ExperimentConfig:
        if self.kind == "train" and self.train is None:
            object.__setattr__(self, "train", TrainConfig())
        if self.kind in ("infer", "quant") and self.infer is None:
            object.__setattr__(self, "infer", InferConfig())
        if self.kind == "quant" and self.quant is None:
            object.__setattr__(self, "quant", QuantConfig())
        return self


# --------------------------------------------------------------------------------------------------- errors


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a config: the field (dotted path), the value given, what was expected, where."""

    field: str
    value: Any
    expected: str
    line: int | None = None
    override: bool = False

    def __str__(self) -> str:
        where = " (from an override)" if self.override else (f" (line {self.line})" if self.line else "")
        shown = "nothing" if self.value is _MISSING else repr(self.value)
        return f"{self.field}{where}: got {shown}; expected {self.expected}"


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the file, field, value and expectation.

    Attributes:
        source: The file (or ``<mapping>``) the config came from.
        issues: The problems found, one per field.
    """

    def __init__(self, source: str | Path, issues: Sequence[ConfigIssue] | str) -> None:
        self.source = str(source)
        self.issues: list[ConfigIssue] = [] if isinstance(issues, str) else list(issues)
        if isinstance(issues, str):
            message = f"{self.source}: {issues}"
        elif len(self.issues) == 1:
            message = f"{self.source}: {self.issues[0]}"
        else:
            lines = "\n".join(f"  - {issue}" for issue in self.issues)
            message = f"{self.source}: {len(self.issues)} invalid fields:\n{lines}"
        super().__init__(message)


class _Missing:
    def __repr__(self) -> str:
        return "nothing"


_MISSING: Any = _Missing()


def _dotted(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_at(loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The pydantic model holding the field at ``loc`` (for 'did you mean' on unknown fields)."""
    model: Any = ExperimentConfig
    for part in loc[:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            return None
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return None
    return model


def _expectation(error: Mapping[str, Any]) -> str:
    kind, msg, loc = error["type"], str(error["msg"]), error["loc"]
    if kind == "extra_forbidden":
        model = _model_at(loc)
        if model is None:
            return "no such field"
        known = list(model.model_fields)
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"no such field{hint}; known fields: {', '.join(known)}"
    if kind == "missing":
        return "a value (this field is required)"
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    if msg.startswith("expected "):  # our validators say "expected X, got Y": the value is shown separately
        msg = re.sub(r", got .*$", "", msg[len("expected ") :], flags=re.DOTALL)
    msg = re.sub(r"^Input should (be )?", "", msg)
    return msg


def _yaml_lines(text: str) -> dict[str, int]:
    """Map each dotted path of a YAML document to the 1-based line its key (or item) is on."""
    lines: dict[str, int] = {}

    def walk(node: yaml.Node, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = f"{path}.{key.value}" if path else str(key.value)
                lines[sub] = key.start_mark.line + 1
                walk(value, sub)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                sub = f"{path}[{i}]"
                lines[sub] = item.start_mark.line + 1
                walk(item, sub)

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, "")
    return lines


def _value_at(data: Any, loc: Sequence[int | str]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return data


# --------------------------------------------------------------------------------------------------- loading


def _split_path(path: str) -> list[str]:
    parts = path.split(".")
    if not path or any(not p for p in parts):
        raise ValueError(f"expected a dotted field path such as 'train.epochs', got {path!r}")
    return parts


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any], source: str = "<overrides>") -> dict:
    """Return a deep copy of ``data`` with each ``{"a.b.c": value}`` set (intermediate mappings are created).

    Raises:
        ConfigError: A path is malformed or goes through a value that is not a mapping.
    """
    result: dict[str, Any] = json.loads(json.dumps(data, default=str)) if data else {}
    for path, value in overrides.items():
        try:
            parts = _split_path(path)
        except ValueError as err:
            raise ConfigError(
                source, [ConfigIssue(str(path), value, str(err).removeprefix("expected "), override=True)]
            ) from None
        node = result
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                where = ".".join(parts[: i + 1])
                issue = ConfigIssue(path, value, f"a path through sections, but {where} is {child!r}", override=True)
                raise ConfigError(source, [issue])
            node = child
        node[parts[-1]] = value
    return result


def parse_config(
    data: Mapping[str, Any] | None,
    overrides: Mapping[str, Any] | None = None,
    *,
    source: str | Path = "<mapping>",
    _lines: Mapping[str, int] | None = None,
) -> ExperimentConfig:
    """Validate a config given as a mapping (as read from YAML), after applying dotted-path ``overrides``.

    Raises:
        ConfigError: The config is invalid; every invalid field is listed.
    """
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(source, f"expected a mapping of fields at the top level, got {type(data).__name__}")
    overrides = dict(overrides or {})
    merged = apply_overrides(data or {}, overrides, str(source))
    try:
        return ExperimentConfig.model_validate(merged)
    except ValidationError as err:
        grouped: dict[str, tuple[Any, list[str]]] = {}
        for error in err.errors(include_url=False):
            loc = list(error["loc"])
            if error["type"] != "missing":  # drop union-member tags such as ('train', 'cache', 'bool')
                while len(loc) > 1 and _value_at(merged, loc) is _MISSING:
                    loc.pop()
            field = _dotted(loc)
            value = _value_at(merged, loc) if loc else merged
            expected = _expectation({**error, "loc": tuple(loc)})
            if field in grouped:
                if expected not in grouped[field][1]:
                    grouped[field][1].append(expected)
            else:
                grouped[field] = (value, [expected])
        issues = []
        for field, (value, expectations) in grouped.items():
            from_override = any(
                field == p or field.startswith((f"{p}.", f"{p}[")) or p.startswith(f"{field}.") for p in overrides
            )
            line = None if from_override else (_lines or {}).get(field)
            issues.append(ConfigIssue(field, value, " or ".join(expectations), line=line, override=from_override))
        raise ConfigError(source, issues) from None


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> ExperimentConfig:
    r"""Read and validate an experiment config file, applying dotted-path overrides first.

    Args:
        path: YAML file.
        overrides: Values by dotted field path, e.g. ``{"train.epochs": 3, "tracking.uri": "http://host:5000"}``;
            they win over the file.

    Returns:
        The validated config.

    Raises:
        ConfigError: The file cannot be read, is not valid YAML (file and line given) or does not validate (file,
            field, value, expectation and line given).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.yaml"
        >>> _ = p.write_text("kind: train\ntrain: {epochs: 5}\n")
        >>> load_config(p, {"train.epochs": 3}).train.epochs
        3
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(path, f"cannot read the config file ({err.strerror or err})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        context = getattr(err, "context", None)
        detail = f"{problem} ({context})" if context else problem
        raise ConfigError(path, f"{where}invalid YAML: {detail}") from None
    return parse_config(data, overrides, source=path, _lines=_yaml_lines(text))


def parse_set_option(option: str) -> tuple[str, Any]:
    """Parse a ``--set PATH=VALUE`` option; the value is read as YAML (``3`` is an int, ``[1, 2]`` a list).

    Example:
        >>> parse_set_option("train.epochs=3")
        ('train.epochs', 3)
        >>> parse_set_option("tracking.uri=http://h:5000")
        ('tracking.uri', 'http://h:5000')

    Raises:
        ValueError: No ``=``, an empty or malformed path, or a value that is not valid YAML.
    """
    path, sep, raw = option.partition("=")
    path = path.strip()
    if not sep:
        raise ValueError(f"expected PATH=VALUE such as 'train.epochs=3', got {option!r}")
    _split_path(path)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: the value {raw!r} is not valid YAML ({getattr(err, 'problem', err)})") from None
    return path, value


def default_config_path(kind: ExperimentKind) -> Path:
    """Path of the example config shipped with yololab for ``kind`` (``configs/<kind>.yaml`` package data)."""
    if kind not in ("train", "infer", "quant"):
        raise ValueError(f"expected 'train', 'infer' or 'quant', got {kind!r}")
    return Path(str(resources.files("yololab").joinpath("configs", f"{kind}.yaml")))


__all__ = [
    "ConfigError",
    "ConfigIssue",
    "DataConfig",
    "ExperimentConfig",
    "ExperimentKind",
    "GatesConfig",
    "InferConfig",
    "MotTrackingConfig",
    "QuantConfig",
    "QuantMethod",
    "TrackingConfig",
    "TrainConfig",
    "apply_overrides",
    "default_config_path",
    "load_config",
    "parse_config",
    "parse_set_option",
]

"""The experiment schema (pydantic v2): sections, and one experiment model per ``kind``.

:data:`ExperimentConfig` is a union discriminated by ``kind``: a :class:`TrainExperiment` has a ``train`` section,
an :class:`InferExperiment` an ``infer`` section, a :class:`QuantExperiment` ``infer`` and ``quant``; each section is
filled with its defaults when omitted, and none is ever None. Every model forbids unknown fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from yololab.data.synthetic_config import SyntheticWorldConfig
from yololab.quant_methods import DeployFormat, QuantMethod

TRACKERS = ("bytetrack", "botsort")
"""Ultralytics' bundled trackers, by the name a config uses (any other value is a tracker YAML)."""

__all__ = [
    "EXPERIMENTS",
    "EXPERIMENT_ADAPTER",
    "TRACKERS",
    "BenchConfig",
    "BenchExperiment",
    "DataConfig",
    "ExperimentConfig",
    "ExperimentKind",
    "GatesConfig",
    "InferConfig",
    "InferExperiment",
    "MotTrackingConfig",
    "QuantConfig",
    "QuantExperiment",
    "QuantMethod",
    "TrackingConfig",
    "TrainConfig",
    "TrainExperiment",
]

ExperimentKind = Literal["train", "infer", "quant", "bench"]
Optimizer = Literal["auto", "SGD", "MuSGD", "Adam", "Adamax", "AdamW", "NAdam", "RAdam", "RMSprop"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TrackingConfig(_Section):
    """Where runs are recorded (MLflow)."""

    uri: str | None = Field(
        None, description="MLflow tracking URI; None: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db."
    )
    journal_dir: Path | None = Field(
        None,
        description="Folder of the write-ahead journal (every call, replayable by `yololab sync`); None: "
        "./.yololab/journal.",
    )
    offline: bool = Field(
        False, description="Record in the journal only, send nothing; upload later with `yololab sync` (--offline)."
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
        if value in TRACKERS or value.endswith((".yaml", ".yml")):
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


DEFAULT_FORMATS = ("torch", "onnx", "onnx-fp16", "onnx-int8-static", "onnx-int8-dynamic", "openvino", "openvino-int8")
"""What ``yololab bench`` measures unless told otherwise: every format that runs on a CPU."""


class BenchConfig(_Section):
    """Format sweep settings: which deployment formats to produce, validate and time side by side."""

    formats: list[DeployFormat] = Field(
        default_factory=lambda: list(DEFAULT_FORMATS),
        min_length=1,
        description="Formats to measure; torch (the original, the comparison baseline) is always measured.",
    )
    calibration_size: int = Field(64, ge=1, description="Train images used to calibrate the INT8 formats.")
    gates: GatesConfig = Field(default_factory=GatesConfig, description="Quality gates, checked per format.")


class _ExperimentBase(_Section):
    """What every experiment has: what to run, on which data and model, and where to record it."""

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


class TrainExperiment(_ExperimentBase):
    """A training experiment (``kind: train``)."""

    kind: Literal["train"] = Field(description="Experiment type: train.")
    train: TrainConfig = Field(default_factory=TrainConfig, description="Training settings.")


class _MeasuringExperiment(_ExperimentBase):
    """What the experiments that measure a trained model share (``infer``, ``quant``)."""

    allow_class_mismatch: bool = Field(
        False,
        description="Measure a model whose class names are not the dataset's (at the same indices); refused by "
        "default, tagged yololab.class_check when allowed.",
    )
    infer: InferConfig = Field(
        default_factory=InferConfig, description="Inference settings (the benchmark loop of a quant experiment)."
    )


class InferExperiment(_MeasuringExperiment):
    """An inference benchmark, with tracking when enabled (``kind: infer``)."""

    kind: Literal["infer"] = Field(description="Experiment type: infer.")


class QuantExperiment(_MeasuringExperiment):
    """A quantization comparison (``kind: quant``)."""

    kind: Literal["quant"] = Field(description="Experiment type: quant.")
    quant: QuantConfig = Field(default_factory=QuantConfig, description="Quantization settings.")


class BenchExperiment(_MeasuringExperiment):
    """A format sweep: the original model and each deployment format, one parent run and a child per format."""

    kind: Literal["bench"] = Field(description="Experiment type: bench.")
    bench: BenchConfig = Field(default_factory=BenchConfig, description="Format sweep settings.")


ExperimentConfig = Annotated[
    TrainExperiment | InferExperiment | QuantExperiment | BenchExperiment, Field(discriminator="kind")
]
"""One experiment: a union discriminated by ``kind``; each member has its own sections, never None."""

EXPERIMENTS: dict[str, type[_ExperimentBase]] = {
    "train": TrainExperiment,
    "infer": InferExperiment,
    "quant": QuantExperiment,
    "bench": BenchExperiment,
}
"""``kind`` -> its experiment model."""

EXPERIMENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(ExperimentConfig)
"""Validates a mapping into the experiment its ``kind`` names."""

"""Experiment configuration: one YAML schema for train, infer and quant experiments (pydantic v2).

A config file is one experiment (:data:`~yololab.config.schema.ExperimentConfig`, a union discriminated by ``kind``:
:class:`TrainExperiment`, :class:`InferExperiment`, :class:`QuantExperiment`). Every model forbids unknown fields,
so a typo is an error that names the field, the value given and what was expected (with the file and line)::

    kind: train                      # train | infer | quant
    experiment: yololab              # MLflow experiment
    model: yolo11n.yaml              # model YAML (trained from scratch) or a local .pt / .onnx
    data:
      synthetic: {seed: 0}           # generate the synthetic world into data.root (default) ...
      # yaml: path/to/data.yaml      # ... or use a YOLO dataset (+ optional mot_dir)
    train: {epochs: 30, batch: 16}

The sections of the ``kind`` are filled with their defaults when omitted (``quant`` has ``infer`` too, whose
benchmark settings it uses); other sections are unknown fields. Relative paths are relative to the working
directory, as on the command line.

Overrides address fields by dotted path (``{"train.epochs": 3}``, ``--set train.epochs=3``); see :func:`load_config`
and :func:`parse_set_option`. The package: ``schema`` (the models), ``errors`` (pydantic's errors translated),
``loading`` (files, overrides). ``yololab.adapters.mlflow_params.config_to_params`` flattens a config into MLflow
params with secrets redacted; ``yololab.cli.options`` maps CLI shortcut options to field paths.
"""

from __future__ import annotations

from yololab.config.errors import ConfigError, ConfigIssue
from yololab.config.loading import apply_overrides, default_config_path, load_config, parse_config, parse_set_option
from yololab.config.schema import (
    EXPERIMENTS,
    BenchConfig,
    BenchExperiment,
    DataConfig,
    ExperimentConfig,
    ExperimentKind,
    GatesConfig,
    InferConfig,
    InferExperiment,
    MotTrackingConfig,
    QuantConfig,
    QuantExperiment,
    QuantMethod,
    TrackingConfig,
    TrainConfig,
    TrainExperiment,
)

__all__ = [
    "EXPERIMENTS",
    "BenchConfig",
    "BenchExperiment",
    "ConfigError",
    "ConfigIssue",
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
    "apply_overrides",
    "default_config_path",
    "load_config",
    "parse_config",
    "parse_set_option",
]

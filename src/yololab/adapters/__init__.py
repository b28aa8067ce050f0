"""Adapters: the only modules that import Ultralytics, MLflow, NVML, psutil, onnxruntime."""

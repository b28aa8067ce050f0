"""yololab: YOLO experiments (training, inference + tracking benchmarks, quantization) recorded in MLflow.

Layers point down only: ``cli -> runners -> adapters -> metrics``. ``yololab.metrics`` is pure
(stdlib, numpy, scipy) and never imports Ultralytics, MLflow, NVML or torch.
"""

__version__ = "0.1.0"

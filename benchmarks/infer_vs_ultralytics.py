"""yololab's inference figures next to Ultralytics' ``benchmark()``, same model, same data, one run.

For the PyTorch ``.pt`` and its ONNX export, prints what each tool reports:

* Ultralytics ``benchmark(format=...)``: mAP50-95 from ``val(batch=1, rect=False, conf=0.001)`` and the validator's
  mean *inference* time per image (the forward pass only: no preprocessing, no NMS), FPS = 1000 / that.
* yololab: mAP50-95 from the same validator (``rect=False``) -> must be equal; then the benchmark loop times
  ``model.predict`` per image *end to end* (letterbox + forward + NMS, device synchronised), after warm-up, with
  every sample kept: mean and p50/p95/p99, plus the forward time alone (Ultralytics' own ``Results.speed``) -
  comparable to Ultralytics' figure - and fps = 1000 / end-to-end mean.

The end-to-end latency is what a user's application sees; the forward time is what ``benchmark()`` reports. Their
difference is pre/postprocessing and Python overhead, printed as such.

Run: ``python benchmarks/infer_vs_ultralytics.py [--model best.pt] [--imgsz 160]``. Without ``--model`` it trains a
small model on the synthetic world first (about 1 min).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from yololab.adapters.quantization import export_onnx_fp32
from yololab.adapters.ultralytics_env import prepare_ultralytics_offline, ultralytics_log_level
from yololab.adapters.ultralytics_model import benchmark_models, read_images, validate_model
from yololab.config import default_config_path, load_config
from yololab.data.yolo_dataset import read_data_yaml
from yololab.runners._common import prepare_data


def _train_small(root: Path, imgsz: int) -> Path:
    from yololab.runners.train import TrainingRunner

    cfg = load_config(
        default_config_path("train"),
        {"tracking.uri": f"sqlite:///{root / 'mlflow.db'}", "output_dir": str(root / "runs"),
         "data.root": str(root / "world"), "imgsz": imgsz, "train.epochs": 8},
    )  # fmt: skip
    result = TrainingRunner(cfg, quiet=True).run()
    assert result.best_weights is not None
    return result.best_weights


def _ultralytics_row(weights: Path, data_yaml: Path, imgsz: int, fmt: str) -> dict[str, float]:
    from ultralytics.utils.benchmarks import benchmark

    with ultralytics_log_level():
        df = benchmark(model=str(weights), data=str(data_yaml), imgsz=imgsz, device="cpu", format=fmt)
    row = df.to_dicts()[0]
    metric = next(k for k in row if k.startswith("metrics/"))
    return {"map": float(row[metric]), "ms": float(row["Inference time (ms/im)"]), "fps": float(row["FPS"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="trained .pt (default: train a small one)")
    parser.add_argument("--imgsz", type=int, default=160)
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()
    prepare_ultralytics_offline()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cfg = load_config(default_config_path("infer"), {"data.root": str(root / "world"), "imgsz": args.imgsz})
        data = prepare_data(cfg, quiet=True)
        weights = args.model.resolve() if args.model else _train_small(root, args.imgsz)
        onnx = export_onnx_fp32(weights, root / "onnx", imgsz=args.imgsz)
        images = read_images(read_data_yaml(data.data_yaml).images("val"), limit=32)
        rows = []
        for label, path, fmt in (("PyTorch .pt", weights, "-"), ("ONNX", onnx, "onnx")):
            with ultralytics_log_level():
                ours = validate_model(path, data.data_yaml, imgsz=args.imgsz)
                bench = benchmark_models({label: path}, images, imgsz=args.imgsz, iterations=args.iterations)[label]
            ref = _ultralytics_row(weights, data.data_yaml, args.imgsz, fmt)
            rows.append((label, ours, bench.system, ref))
    columns = [
        ("format", 12),
        ("mAP50-95 yololab", 17),
        ("ultralytics", 12),
        ("equal", 6),
        ("forward ms", 11),
        ("ultra ms", 9),
        ("e2e mean", 9),
        ("p50", 7),
        ("p95", 7),
        ("p99", 7),
        ("fps", 7),
        ("ultra FPS", 10),
    ]
    print("".join(f"{name:>{width}s}" for name, width in columns))
    for label, ours, s, ref in rows:
        equal = abs((ours.mAP50_95 or 0) - ref["map"]) < 5e-4  # benchmark() rounds to 4 decimals
        values = [
            label,
            f"{ours.mAP50_95:.4f}",
            f"{ref['map']:.4f}",
            str(equal),
            f"{s.forward_time_ms:.2f}",
            f"{ref['ms']:.2f}",
            f"{s.inference_time_ms:.2f}",
            f"{s.inference_time_p50_ms:.2f}",
            f"{s.inference_time_p95_ms:.2f}",
            f"{s.inference_time_p99_ms:.2f}",
            f"{s.fps:.1f}",
            f"{ref['fps']:.1f}",
        ]
        print("".join(f"{v:>{w}s}" for v, (_, w) in zip(values, columns, strict=True)))
    print(
        "\nforward ms = model inference alone (comparable to Ultralytics' 'Inference time'); e2e = letterbox + "
        "forward + NMS per image, device-synchronised; the gap is pre/postprocessing and Python overhead:"
    )
    for label, _ours, s, _ref in rows:
        gap = s.inference_time_ms - s.forward_time_ms
        print(f"  {label}: preprocess {s.preprocess_time_ms:.2f} ms + postprocess {s.postprocess_time_ms:.2f} ms + "
              f"other {gap - s.preprocess_time_ms - s.postprocess_time_ms:.2f} ms = {gap:.2f} ms")  # fmt: skip


if __name__ == "__main__":
    main()

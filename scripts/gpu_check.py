"""Check SystemMetricsCollector on a real NVIDIA GPU and print everything it read.

Runs a small CNN (or an Ultralytics model YAML, built untrained) on ``cuda:N``: warm-up, then a timed loop
inside the collector; prints one raw NVML reading, the telemetry summary, the resulting SystemMetrics, the reasons
for absent fields, and torch's own view (peak allocated memory, CUDA-event time of one forward) for comparison.

Run: ``python scripts/gpu_check.py [--device cuda:0] [--iterations 300] [--yaml yolo11n.yaml --imgsz 640]``.
Paste its output into docs/system_metrics.md with the GPU, driver and date.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile

import torch

from yololab.adapters.nvml import NvmlGpuReader, nvml_targets
from yololab.adapters.system_collector import SystemMetricsCollector, parse_cuda_indices


def build_model(yaml: str | None, device: torch.device) -> torch.nn.Module:
    if yaml is None:
        layers: list[torch.nn.Module] = []
        channels = 3
        for out in (32, 64, 128, 256):
            layers += [torch.nn.Conv2d(channels, out, 3, padding=1), torch.nn.SiLU(), torch.nn.MaxPool2d(2)]
            channels = out
        return torch.nn.Sequential(*layers).to(device).eval()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")
    os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="yololab-gpu-check-"))
    from ultralytics import YOLO

    return YOLO(yaml).model.to(device).eval()


def raw_reading(index: int) -> None:
    uuids = [f"GPU-{torch.cuda.get_device_properties(i).uuid}" for i in range(torch.cuda.device_count())]
    reader = NvmlGpuReader(nvml_targets([index], cuda_uuids=uuids))
    reader.open()
    print(f"NVML targets {reader.targets} -> UUIDs {reader.uuids}; reason={reader.reason}")
    print(f"raw reading: {reader.read()}; field reasons: {reader.field_reasons}")
    reader.close()


def event_ms(model: torch.nn.Module, image: torch.Tensor) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    model(image)
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--yaml", default=None, help="an Ultralytics model YAML instead of the small CNN")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device visible to torch: nothing to check (run this on an NVIDIA GPU machine)")
        return 2
    index = parse_cuda_indices(args.device)[0]
    device = torch.device("cuda", index)
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(index)}")
    raw_reading(index)

    model = build_model(args.yaml, device)
    image = torch.rand(1, 3, args.imgsz, args.imgsz, device=device)
    torch.cuda.reset_peak_memory_stats(device)
    collector = SystemMetricsCollector(device=args.device, warmup=args.warmup)
    with collector, torch.inference_mode():
        for _ in range(args.warmup + args.iterations):
            with collector.measure_latency():
                model(image)
        events = [event_ms(model, image) for _ in range(20)]
    metrics = collector.to_system_metrics(batch_size=1)

    print(f"\nlatency stats (ms): {collector.get_latency_stats()}")
    print(f"telemetry: {collector.summary()}")
    print("\nSystemMetrics:")
    for field in dataclasses.fields(metrics):
        value = getattr(metrics, field.name)
        if value is not None:
            print(f"  {field.name:28s} {value:.4f}")
    print(f"unavailable_reasons: {collector.unavailable_reasons}")
    print(f"\ntorch max_memory_allocated: {torch.cuda.max_memory_allocated(device) / 2**20:.1f} MiB")
    print(f"CUDA-event forward time (GPU only), median of 20: {sorted(events)[10]:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

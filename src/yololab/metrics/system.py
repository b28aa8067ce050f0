"""System metrics (``sys.*``): latency, throughput, GPU/CPU telemetry, model statistics."""

from __future__ import annotations

from dataclasses import dataclass, replace

from yololab.metrics._base import ScalarMetrics


@dataclass
class SystemMetrics(ScalarMetrics):
    """What running the model cost, and how fast it was.

    Latency fields are per image, in milliseconds, measured with ``time.perf_counter_ns`` after synchronising the
    device at both ends, warm-up excluded; percentiles are ``numpy.percentile`` (linear interpolation) over every
    timed iteration.

    Attributes:
        inference_time_ms: mean end-to-end latency per image at batch 1 (preprocess + inference + postprocess).
        inference_time_p50_ms .. inference_time_p99_ms: percentiles of the same samples.
        inference_time_min_ms, inference_time_max_ms, inference_time_std_ms: extremes and population std.
        forward_time_ms: mean model inference alone (no pre/postprocess) per image at batch 1.
        preprocess_time_ms, postprocess_time_ms: mean per image at batch 1.
        tracker_time_ms: mean time of the tracker's update per frame (when tracking).
        fps: images per second at batch 1 end to end = 1000 / inference_time_ms (+ tracker_time_ms when tracking).
        throughput: images per second at the configured batch size, end to end = batch / mean batch latency (s).
        epoch_time_s: wall time of one training epoch (training only).
        gpu_memory_used_mb: mean device memory used while measuring (MiB, NVML).
        gpu_memory_peak_mb: peak device memory used while measuring (MiB, NVML).
        gpu_utilization_pct: mean GPU utilisation (%, NVML) while measuring.
        gpu_power_watts: mean board power (W, NVML).
        gpu_temperature_c: mean GPU temperature (deg C, NVML).
        energy_per_image_j: NVML energy counter difference over the timed loop / images processed (J).
        cpu_utilization_pct: mean CPU use of this process (%, psutil; 100 = one core busy).
        system_cpu_utilization_pct: mean CPU use of the whole machine (%, psutil; 100 = all cores busy).
        cpu_memory_used_mb: mean resident set size of this process (MiB).
        system_memory_used_mb: mean memory used on the machine (MiB).
        model_size_mb: size of the weights file (MB = 1e6 bytes).
        model_params_m: parameters, in millions.
        model_flops_g: GFLOPs of one forward pass at the experiment's input size, as Ultralytics counts them
            (2 x MACs).
    """

    inference_time_ms: float | None = None
    inference_time_p50_ms: float | None = None
    inference_time_p90_ms: float | None = None
    inference_time_p95_ms: float | None = None
    inference_time_p99_ms: float | None = None
    inference_time_min_ms: float | None = None
    inference_time_max_ms: float | None = None
    inference_time_std_ms: float | None = None
    forward_time_ms: float | None = None
    preprocess_time_ms: float | None = None
    postprocess_time_ms: float | None = None
    tracker_time_ms: float | None = None
    fps: float | None = None
    throughput: float | None = None
    epoch_time_s: float | None = None
    gpu_memory_used_mb: float | None = None
    gpu_memory_peak_mb: float | None = None
    gpu_utilization_pct: float | None = None
    gpu_power_watts: float | None = None
    gpu_temperature_c: float | None = None
    energy_per_image_j: float | None = None
    cpu_utilization_pct: float | None = None
    system_cpu_utilization_pct: float | None = None
    cpu_memory_used_mb: float | None = None
    system_memory_used_mb: float | None = None
    model_size_mb: float | None = None
    model_params_m: float | None = None
    model_flops_g: float | None = None

    def merged(self, other: SystemMetrics) -> SystemMetrics:
        """A copy where every field absent here is taken from ``other``."""
        values = {n: getattr(self, n) for n in self.scalar_field_names()}
        for name, value in values.items():
            if value is None:
                values[name] = getattr(other, name)
        return SystemMetrics(**values)


def fps_from_latency(inference_time_ms: float, tracker_time_ms: float | None = None) -> float:
    """Images per second at batch 1, end to end: ``1000 / (inference_time_ms [+ tracker_time_ms])``.

    Example:
        >>> fps_from_latency(8.0), fps_from_latency(8.0, 2.0)
        (125.0, 100.0)
    """
    return 1000.0 / (inference_time_ms + (tracker_time_ms or 0.0))


def throughput_from_latency(batch_size: int, batch_latency_ms: float) -> float:
    """Images per second at a batch size: ``batch_size * 1000 / batch_latency_ms`` (mean end-to-end ms per batch).

    Example:
        >>> throughput_from_latency(8, 40.0)
        200.0
    """
    return batch_size * 1000.0 / batch_latency_ms


def energy_per_image_j(energy_j: float, images: int) -> float:
    """Joules per image: the energy counter's difference over the timed loop (J) / images processed.

    Example:
        >>> energy_per_image_j(12.0, 100)
        0.12
    """
    return energy_j / images


def with_tracker_time(system: SystemMetrics, tracker_time_ms: float | None) -> SystemMetrics:
    """A copy with ``tracker_time_ms`` set and ``fps`` including it (SPEC: end to end [+ tracker]).

    Example:
        >>> with_tracker_time(SystemMetrics(inference_time_ms=8.0, fps=125.0), 2.0).fps
        100.0
    """
    if tracker_time_ms is None:
        return system
    fps = fps_from_latency(system.inference_time_ms, tracker_time_ms) if system.inference_time_ms else system.fps
    return replace(system, tracker_time_ms=tracker_time_ms, fps=fps)

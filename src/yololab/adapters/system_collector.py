"""SystemMetricsCollector: GPU/CPU telemetry in a background thread, and honest latency timing.

One collector measures one *window*: from ``start()`` (or the last ``reset()``) to ``stop()`` (or now).

* Telemetry. A daemon thread samples every ``interval_s`` (default 0.1 s): NVML for the GPU(s) the experiment
  uses (:mod:`yololab.adapters.nvml`) and psutil for this process's RSS and the machine's memory. CPU use is not
  sampled but computed exactly from cumulative CPU times at the window's two ends (psutil's own formula), so the
  first-call-returns-0.0 trap of ``cpu_percent()`` does not apply.
* Latency. ``measure_latency()`` synchronises the device, reads ``time.perf_counter_ns()``, runs the block,
  synchronises again and reads the clock; the first ``warmup`` iterations of each stage are dropped and every
  other sample is kept, so percentiles are exact (:func:`yololab.metrics.latency.latency_stats`).

Anything that cannot be measured (no NVIDIA driver, an NVML query the GPU does not support, a GPU lost mid-run)
leaves its field absent and a reason in ``unavailable_reasons``; the run goes on.

Example:
    >>> collector = SystemMetricsCollector(device="cpu", warmup=1)
    >>> with collector:
    ...     for _ in range(5):
    ...         with collector.measure_latency():
    ...             _ = sum(range(1000))
    >>> collector.get_latency_stats().count
    4
    >>> collector.unavailable_reasons["gpu"]
    'device is cpu: no GPU used'
"""

from __future__ import annotations

import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import psutil

from yololab.adapters.nvml import GpuReading, NvmlGpuReader, nvml_targets
from yololab.devices import parse_cuda_indices
from yololab.metrics.latency import LatencyStats, latency_stats
from yololab.metrics.system import SystemMetrics, energy_per_image_j, fps_from_latency, throughput_from_latency

Stage = Literal["end_to_end", "preprocess", "forward", "postprocess", "tracker"]
"""What a latency sample times. ``end_to_end`` = preprocess + forward + postprocess of one batch."""

STAGES: tuple[Stage, ...] = ("end_to_end", "preprocess", "forward", "postprocess", "tracker")
_STAGE_FIELD = {
    "forward": "forward_time_ms",
    "preprocess": "preprocess_time_ms",
    "postprocess": "postprocess_time_ms",
    "tracker": "tracker_time_ms",
}
_GPU_METRIC_OF_FIELD = {
    "memory_used_mb": "gpu_memory_used_mb",
    "utilization_pct": "gpu_utilization_pct",
    "power_watts": "gpu_power_watts",
    "temperature_c": "gpu_temperature_c",
    "energy_j": "energy_per_image_j",
}
_MIB = float(1 << 20)


@dataclass(frozen=True, slots=True)
class TelemetrySummary:
    """Telemetry over one window; ``None`` = not measured.

    Attributes:
        window_s: wall time of the window (s).
        samples: background samples taken in the window.
        gpu_memory_used_mb: mean GPU memory used, all processes, summed over the GPUs used (MiB).
        gpu_memory_peak_mb: largest sampled value of the same (MiB); a peak shorter than the interval can be missed.
        gpu_utilization_pct: mean NVML utilisation (%).
        gpu_power_watts: mean board power (W).
        gpu_temperature_c: mean temperature (deg C).
        gpu_energy_j: NVML energy counter difference over the window (J).
        cpu_utilization_pct: CPU time of this process / wall time x 100 (100 = one core busy; may exceed 100).
        system_cpu_utilization_pct: busy share of all the machine's cores (%, 0-100; psutil's definition).
        cpu_memory_used_mb: mean resident set size of this process (MiB).
        cpu_memory_peak_mb: largest sampled RSS (MiB).
        system_memory_used_mb: mean memory in use on the machine, ``total - available`` (MiB).
    """

    window_s: float
    samples: int
    gpu_memory_used_mb: float | None = None
    gpu_memory_peak_mb: float | None = None
    gpu_utilization_pct: float | None = None
    gpu_power_watts: float | None = None
    gpu_temperature_c: float | None = None
    gpu_energy_j: float | None = None
    cpu_utilization_pct: float | None = None
    system_cpu_utilization_pct: float | None = None
    cpu_memory_used_mb: float | None = None
    cpu_memory_peak_mb: float | None = None
    system_memory_used_mb: float | None = None


class _Running:
    """Running count, sum and maximum of one sampled quantity (constant memory)."""

    __slots__ = ("count", "peak", "total")

    def __init__(self) -> None:
        self.count, self.total, self.peak = 0, 0.0, float("-inf")

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.peak = max(self.peak, value)

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    @property
    def max(self) -> float | None:
        return self.peak if self.count else None


def _cpu_busy_total(times: Any) -> tuple[float, float]:
    """(busy, total) seconds of all cores, as ``psutil.cpu_percent`` computes them."""
    total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    return total - times.idle - getattr(times, "iowait", 0.0), total


@dataclass(frozen=True, slots=True)
class _CpuMark:
    wall_s: float
    process_s: float
    busy_s: float
    total_s: float


class _Sampler:
    """The background thread and what it accumulates. Holds no reference to the collector."""

    def __init__(self, interval_s: float, process: psutil.Process, gpu_targets: list[int | str] | None) -> None:
        self.interval_s = interval_s
        self.process = process
        self.gpu_targets = gpu_targets
        self.gpu: NvmlGpuReader | None = None
        self.errors = 0
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.clear()

    def clear(self) -> None:
        """Forget every accumulated sample (a new window begins)."""
        with self._lock:
            self.stats = {name: _Running() for name in ("rss", "sysmem", *_GPU_METRIC_OF_FIELD)}
            self.samples = 0
            self.energy_first: float | None = None
            self.energy_last: float | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        if self.gpu_targets:
            self.gpu = NvmlGpuReader(self.gpu_targets)
            self.gpu.open()
        self._stop.clear()
        self.sample_once()
        self._thread = threading.Thread(target=self._run, name="yololab-system-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, take one last sample, release NVML. Safe to call twice."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        if thread is threading.current_thread():  # finalised from inside the thread by the GC: it exits next
            if self.gpu is not None:
                self.gpu.close()
            return
        thread.join(timeout=max(5.0, 10 * self.interval_s))
        if thread.is_alive():  # a hung NVML/psutil call: the daemon thread exits at its next check
            self._note_error(RuntimeError("sampler thread did not stop within the join timeout"))
        self.sample_once()
        if self.gpu is not None:
            self.gpu.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample_once()

    def sample_once(self) -> None:
        """Take one sample; an exception is counted and remembered, never raised."""
        try:
            self._sample()
        except Exception as err:
            self._note_error(err)

    def _note_error(self, err: BaseException) -> None:
        self.errors += 1
        self.last_error = f"{type(err).__name__}: {err}"

    def _sample(self) -> None:
        rss = self.process.memory_info().rss / _MIB
        memory = psutil.virtual_memory()
        reading = self.gpu.read() if self.gpu is not None else None
        with self._lock:
            self.samples += 1
            self.stats["rss"].add(rss)
            self.stats["sysmem"].add((memory.total - memory.available) / _MIB)
            if reading is not None:
                self._add_gpu(reading)

    def _add_gpu(self, reading: GpuReading) -> None:
        for field in ("memory_used_mb", "utilization_pct", "power_watts", "temperature_c"):
            value = getattr(reading, field)
            if value is not None:
                self.stats[field].add(value)
        if reading.energy_j is not None:
            if self.energy_first is None:
                self.energy_first = reading.energy_j
            self.energy_last = reading.energy_j

    def read_energy_j(self) -> float | None:
        """The energy counter now (J), read in the calling thread; ``None`` when unavailable."""
        reading = self.gpu.read() if self.gpu is not None else None
        return None if reading is None else reading.energy_j


class _StageTimer:
    """Reusable, non-reentrant timer of one stage; what ``measure_latency`` returns."""

    __slots__ = ("_on_first_timed", "_sync", "_t0", "samples_ms", "warmup_left")

    def __init__(self, sync: Callable[[], None] | None, warmup: int) -> None:
        self._sync = sync
        self._t0: int | None = None
        self._on_first_timed: Callable[[], None] | None = None
        self.samples_ms: list[float] = []
        self.warmup_left = warmup

    def __enter__(self) -> _StageTimer:
        if self._t0 is not None:
            raise RuntimeError("measure_latency() of one stage cannot be nested or used from two threads")
        if self.warmup_left == 0 and self._on_first_timed is not None:
            callback, self._on_first_timed = self._on_first_timed, None
            callback()
        if self._sync is not None:
            self._sync()
        self._t0 = time.perf_counter_ns()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._sync is not None:
            self._sync()
        t1 = time.perf_counter_ns()
        t0, self._t0 = self._t0, None
        if exc_type is not None or t0 is None:
            return  # a failed iteration is not a latency sample
        self.record((t1 - t0) / 1e6)

    def record(self, ms: float) -> None:
        if self.warmup_left > 0:
            self.warmup_left -= 1
        else:
            self.samples_ms.append(ms)


def _torch_cuda() -> Any:
    """torch.cuda if torch is already imported and CUDA works; never imports torch itself."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        return torch.cuda if torch.cuda.is_available() else None
    except Exception:
        return None


def _torch_cuda_uuids(cuda: Any) -> list[str] | None:
    try:
        return [f"GPU-{cuda.get_device_properties(i).uuid}" for i in range(cuda.device_count())]
    except Exception:
        return None


def _torch_sync(cuda: Any, indices: Sequence[int]) -> Callable[[], None]:
    synchronize = cuda.synchronize
    if len(indices) == 1:
        index = indices[0]
        return lambda: synchronize(index)

    def sync_all() -> None:
        for index in indices:
            synchronize(index)

    return sync_all


class SystemMetricsCollector:
    """Samples GPU/CPU telemetry in the background and times code blocks; builds :class:`SystemMetrics`.

    Use it as a context manager (or ``start()``/``stop()``) around the measured work. The sampling thread
    exists only between ``start`` and ``stop`` (``stop`` joins it; a collector garbage-collected while running
    stops it too), so starting and stopping many times leaks no thread and no NVML handle.

    Timing an end-to-end benchmark loop (batch 1)::

        collector = SystemMetricsCollector(device="cuda:0", warmup=10)
        with collector:
            for image in images:                      # 10 warm-up + N timed iterations
                with collector.measure_latency():     # end_to_end: preprocess + forward + postprocess
                    results = model.predict(image)
        metrics = collector.to_system_metrics(batch_size=1)

    Telemetry over training epochs::

        collector.start()
        for epoch in epochs:
            collector.reset()                         # a new window: telemetry and samples cleared
            train_one_epoch()
            epoch_metrics = collector.to_system_metrics()   # GPU memory, CPU %, RSS over this epoch
        collector.stop()

    Args:
        device: the device the experiment runs on: ``"cpu"`` (default; no GPU sampling, no sync), ``"cuda"``,
            ``"cuda:N"``, ``N``, ``"N,M"`` or a ``torch.device``. For CUDA devices the GPUs sampled are those,
            found in NVML by UUID, and ``measure_latency`` calls ``torch.cuda.synchronize(N)`` (when torch is
            imported) at both ends.
        sync: a callable that waits for the device to finish queued work; replaces the automatic one (pass
            ``lambda: None`` to disable synchronisation).
        interval_s: seconds between background samples (NVML utilisation is itself averaged over 1/6-1 s).
        warmup: iterations of each stage dropped before samples are kept.
    """

    def __init__(
        self,
        *,
        device: str | int | None = "cpu",
        sync: Callable[[], None] | None = None,
        interval_s: float = 0.1,
        warmup: int = 0,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0 s, got {interval_s}")
        if warmup < 0:
            raise ValueError(f"warmup must be >= 0 iterations, got {warmup}")
        self.device = device
        self.cuda_indices = parse_cuda_indices(device)
        self.warmup = warmup
        self._reasons: dict[str, str] = {}
        self._sync = sync if sync is not None else self._default_sync()
        self._process = psutil.Process(os.getpid())
        self._sampler = _Sampler(interval_s, self._process, self._gpu_targets())
        self._finalizer = weakref.finalize(self, self._sampler.stop)
        self._cpu_start: _CpuMark | None = None
        self._cpu_end: _CpuMark | None = None
        self._energy_at_first_timed: float | None = None
        self._timers: dict[str, _StageTimer] = {}
        self._reset_timers()

    # ----------------------------------------------------------------------------------------- lifecycle

    def start(self) -> SystemMetricsCollector:
        """Begin a new window: clear telemetry and latency samples, start the sampling thread."""
        if self._sampler.running:
            raise RuntimeError("SystemMetricsCollector is already running; stop() it or call reset()")
        self.reset()
        self._sampler.start()
        return self

    def stop(self) -> None:
        """End the window: join the thread (one last sample is taken) and release NVML. Idempotent."""
        if self._sampler.running:
            self._sampler.stop()
            self._cpu_end = self._cpu_mark()

    def reset(self) -> None:
        """Start a new window now: forget telemetry and latency samples (warm-up counts restart)."""
        self._sampler.clear()
        self._cpu_start, self._cpu_end = self._cpu_mark(), None
        self._energy_at_first_timed = None
        self._reset_timers()

    @property
    def running(self) -> bool:
        """True between ``start()`` and ``stop()``."""
        return self._sampler.running

    def __enter__(self) -> SystemMetricsCollector:
        return self.start()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------ latency

    def measure_latency(self, stage: Stage = "end_to_end") -> _StageTimer:
        """Context manager timing one iteration of ``stage`` (ms), device synchronised at both ends.

        Not re-entrant per stage and meant for one thread. An iteration that raises is not recorded. The
        tracker stage is timed outside the ``end_to_end`` block (fps adds them).
        """
        return self._timers[stage]

    def record_latency(self, ms: float, *, stage: Stage = "end_to_end") -> None:
        """Record a latency measured elsewhere (e.g. Ultralytics ``Results.speed``); warm-up applies."""
        self._timers[stage].record(float(ms))

    def latency_samples_ms(self, stage: Stage = "end_to_end") -> list[float]:
        """A copy of the kept samples of ``stage`` (ms), warm-up excluded."""
        return list(self._timers[stage].samples_ms)

    def get_latency_stats(self, stage: Stage = "end_to_end") -> LatencyStats | None:
        """Mean, population std, min, max, p50/p90/p95/p99 (ms) of ``stage``; ``None`` before any sample."""
        samples = self._timers[stage].samples_ms
        return latency_stats(samples) if samples else None

    # ---------------------------------------------------------------------------------------- summaries

    @property
    def unavailable_reasons(self) -> dict[str, str]:
        """Why fields are absent, for tags: ``{"gpu": "NVML: ..."}`` or per field (``"gpu_power_watts"``)."""
        reasons = dict(self._reasons)
        gpu = self._sampler.gpu
        if gpu is not None:
            if gpu.reason is not None:
                reasons["gpu"] = gpu.reason
            for field, why in gpu.field_reasons.items():
                reasons[_GPU_METRIC_OF_FIELD[field]] = why
        if self._sampler.errors:
            reasons["sampler"] = f"{self._sampler.errors} sampling error(s); last: {self._sampler.last_error}"
        return reasons

    def summary(self) -> TelemetrySummary:
        """Telemetry of the current window (up to ``stop()``, or up to now while running)."""
        sampler = self._sampler
        end = self._cpu_end or self._cpu_mark()
        start = self._cpu_start or end  # never started: an empty window, no CPU figures
        wall = end.wall_s - start.wall_s
        cpu_total = end.total_s - start.total_s
        with sampler._lock:
            stats = sampler.stats
            energy = None
            if sampler.energy_first is not None and sampler.energy_last is not None and not self._gpu_lost:
                energy = sampler.energy_last - sampler.energy_first
            return TelemetrySummary(
                window_s=max(wall, 0.0),
                samples=sampler.samples,
                gpu_memory_used_mb=stats["memory_used_mb"].mean,
                gpu_memory_peak_mb=stats["memory_used_mb"].max,
                gpu_utilization_pct=stats["utilization_pct"].mean,
                gpu_power_watts=stats["power_watts"].mean,
                gpu_temperature_c=stats["temperature_c"].mean,
                gpu_energy_j=energy,
                cpu_utilization_pct=100.0 * (end.process_s - start.process_s) / wall if wall > 0 else None,
                system_cpu_utilization_pct=(100.0 * (end.busy_s - start.busy_s) / cpu_total if cpu_total > 0 else None),
                cpu_memory_used_mb=stats["rss"].mean,
                cpu_memory_peak_mb=stats["rss"].max,
                system_memory_used_mb=stats["sysmem"].mean,
            )

    def to_system_metrics(self, *, batch_size: int = 1) -> SystemMetrics:
        """The window's :class:`SystemMetrics`: latency, fps, throughput, telemetry, energy per image.

        Definitions (``end_to_end`` samples are per batch of ``batch_size`` images):

        * ``inference_time_*_ms``: statistics of the ``end_to_end`` samples (batch 1 only).
        * ``forward/preprocess/postprocess/tracker_time_ms``: mean of that stage's samples (batch 1 only).
        * ``fps`` = 1000 / (``inference_time_ms`` + ``tracker_time_ms`` when the tracker stage was timed):
          images per second at batch 1, end to end (batch 1 only).
        * ``throughput`` = ``batch_size`` x 1000 / mean ``end_to_end`` ms: images per second at this batch size.
        * ``energy_per_image_j`` = NVML energy counter difference from the start of the first timed
          ``end_to_end`` iteration to the end of the window / (timed iterations x ``batch_size``).
        * GPU/CPU fields: see :class:`TelemetrySummary` (means over the window; peak GPU memory is the max).

        With ``batch_size > 1`` the per-image-at-batch-1 fields stay absent: time batch 1 separately and
        combine with ``SystemMetrics.merged``.

        Args:
            batch_size: images per ``end_to_end`` sample.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1 image, got {batch_size}")
        if self._sampler.running and self._sampler.samples == 0:
            self._sampler.sample_once()  # a window shorter than the sampling interval still gets its telemetry
        fields: dict[str, float | None] = self._telemetry_fields()
        e2e = self.get_latency_stats("end_to_end")
        if e2e is not None and e2e.mean_ms > 0:
            fields["throughput"] = throughput_from_latency(batch_size, e2e.mean_ms)
            fields["energy_per_image_j"] = self._energy_per_image(e2e.count * batch_size)
        if batch_size == 1:
            fields.update(self._batch1_fields(e2e))
        return SystemMetrics(**fields)

    # ---------------------------------------------------------------------------------------- internals

    def _telemetry_fields(self) -> dict[str, float | None]:
        s = self.summary()
        return {
            "gpu_memory_used_mb": s.gpu_memory_used_mb,
            "gpu_memory_peak_mb": s.gpu_memory_peak_mb,
            "gpu_utilization_pct": s.gpu_utilization_pct,
            "gpu_power_watts": s.gpu_power_watts,
            "gpu_temperature_c": s.gpu_temperature_c,
            "cpu_utilization_pct": s.cpu_utilization_pct,
            "system_cpu_utilization_pct": s.system_cpu_utilization_pct,
            "cpu_memory_used_mb": s.cpu_memory_used_mb,
            "system_memory_used_mb": s.system_memory_used_mb,
        }

    def _batch1_fields(self, e2e: LatencyStats | None) -> dict[str, float | None]:
        fields: dict[str, float | None] = {}
        for stage, name in _STAGE_FIELD.items():
            stats = self.get_latency_stats(stage)  # type: ignore[arg-type]
            fields[name] = stats.mean_ms if stats is not None else None
        if e2e is None:
            return fields
        fields.update(
            inference_time_ms=e2e.mean_ms,
            inference_time_p50_ms=e2e.p50_ms,
            inference_time_p90_ms=e2e.p90_ms,
            inference_time_p95_ms=e2e.p95_ms,
            inference_time_p99_ms=e2e.p99_ms,
            inference_time_min_ms=e2e.min_ms,
            inference_time_max_ms=e2e.max_ms,
            inference_time_std_ms=e2e.std_ms,
        )
        if e2e.mean_ms + (fields["tracker_time_ms"] or 0.0) > 0:
            fields["fps"] = fps_from_latency(e2e.mean_ms, fields["tracker_time_ms"])
        return fields

    def _energy_per_image(self, images: int) -> float | None:
        first, last = self._energy_at_first_timed, self._sampler.energy_last
        if first is None or last is None or self._gpu_lost or images <= 0:
            return None
        return energy_per_image_j(last - first, images)

    @property
    def _gpu_lost(self) -> bool:
        gpu = self._sampler.gpu
        return gpu is not None and gpu.lost

    def _mark_first_timed(self) -> None:
        if self._sampler.running:
            self._energy_at_first_timed = self._sampler.read_energy_j()

    def _reset_timers(self) -> None:
        self._timers = {stage: _StageTimer(self._sync, self.warmup) for stage in STAGES}
        self._timers["end_to_end"]._on_first_timed = self._mark_first_timed_weak()

    def _mark_first_timed_weak(self) -> Callable[[], None]:
        ref = weakref.ref(self)  # the timer must not keep the collector (and its thread) alive

        def mark() -> None:
            collector = ref()
            if collector is not None:
                collector._mark_first_timed()

        return mark

    def _cpu_mark(self) -> _CpuMark:
        process = self._process.cpu_times()
        busy, total = _cpu_busy_total(psutil.cpu_times())
        return _CpuMark(time.perf_counter(), process.user + process.system, busy, total)

    def _default_sync(self) -> Callable[[], None] | None:
        if not self.cuda_indices:
            return None
        cuda = _torch_cuda()
        if cuda is None:
            self._reasons["sync"] = "torch CUDA not in use: device not synchronised (pass sync= if needed)"
            return None
        return _torch_sync(cuda, self.cuda_indices)

    def _gpu_targets(self) -> list[int | str] | None:
        if not self.cuda_indices:
            self._reasons["gpu"] = f"device is {self.device or 'cpu'}: no GPU used"
            return None
        cuda = _torch_cuda()
        try:
            return nvml_targets(
                self.cuda_indices,
                cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
                cuda_uuids=_torch_cuda_uuids(cuda) if cuda is not None else None,
            )
        except ValueError as err:
            self._reasons["gpu"] = str(err)
            return None

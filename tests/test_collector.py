"""SystemMetricsCollector and the NVML adapter; GPU paths run against tests/fake_pynvml.py only."""

from __future__ import annotations

import gc
import sys
import threading
import time

import numpy as np
import pytest

from fake_pynvml import FakeGpu, FakeNvml
from yololab.adapters.nvml import NvmlGpuReader, nvml_targets, parse_cuda_visible_devices
from yololab.adapters.system_collector import SystemMetricsCollector
from yololab.devices import parse_cuda_indices
from yololab.metrics.system import SystemMetrics

pytestmark = pytest.mark.quick

GPU_FIELDS = ("gpu_memory_used_mb", "gpu_memory_peak_mb", "gpu_utilization_pct", "gpu_power_watts")
FAST = 0.005  # sampling interval for tests (s)


def install(monkeypatch: pytest.MonkeyPatch, *gpus: FakeGpu, driver: bool = True) -> FakeNvml:
    fake = FakeNvml(list(gpus), driver=driver)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return fake


def sampler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "yololab-system-sampler"]


def run_loop(collector: SystemMetricsCollector, iterations: int, *, seconds: float = 0.0) -> None:
    for _ in range(iterations):
        with collector.measure_latency():
            time.sleep(seconds)


# ------------------------------------------------------------------------------------------------ CPU


def test_cpu_run_has_no_gpu_fields_and_says_why() -> None:
    collector = SystemMetricsCollector(device="cpu", interval_s=FAST, warmup=3)
    with collector:
        run_loop(collector, 13)
        time.sleep(3 * FAST)
    metrics = collector.to_system_metrics(batch_size=1)
    assert isinstance(metrics, SystemMetrics)
    assert collector.get_latency_stats().count == 10
    assert all(getattr(metrics, name) is None for name in (*GPU_FIELDS, "energy_per_image_j"))
    assert collector.unavailable_reasons == {"gpu": "device is cpu: no GPU used"}
    assert metrics.cpu_memory_used_mb > 0 and metrics.system_memory_used_mb > 0
    assert metrics.cpu_utilization_pct is not None and metrics.system_cpu_utilization_pct is not None
    assert metrics.inference_time_ms is not None and metrics.fps == pytest.approx(1000 / metrics.inference_time_ms)


@pytest.mark.oracle
def test_percentiles_equal_numpy_on_recorded_samples() -> None:
    collector = SystemMetricsCollector(warmup=2)
    for i in range(200):
        with collector.measure_latency():
            sum(range(50 * (i % 7)))
    samples = np.asarray(collector.latency_samples_ms())
    stats = collector.get_latency_stats()
    assert len(samples) == stats.count == 198
    p50, p90, p95, p99 = np.percentile(samples, [50, 90, 95, 99], method="linear")
    assert (stats.p50_ms, stats.p90_ms, stats.p95_ms, stats.p99_ms) == (p50, p90, p95, p99)
    assert stats.mean_ms == samples.mean() and stats.std_ms == samples.std()
    metrics = collector.to_system_metrics()
    assert (metrics.inference_time_p50_ms, metrics.inference_time_p99_ms) == (p50, p99)


def test_sync_runs_at_both_ends_and_failed_iterations_are_dropped() -> None:
    events: list[str] = []
    collector = SystemMetricsCollector(sync=lambda: events.append("sync"))
    with collector.measure_latency():
        events.append("work")
    assert events == ["sync", "work", "sync"]
    with pytest.raises(ZeroDivisionError), collector.measure_latency():
        _ = 1 / 0
    assert collector.get_latency_stats().count == 1
    with pytest.raises(RuntimeError, match="nested"), collector.measure_latency(), collector.measure_latency():
        pass


@pytest.mark.parametrize(
    ("batch_size", "tracker", "expected"),
    [
        (1, [], {"inference_time_ms": 15.0, "fps": 1000 / 15, "throughput": 1000 / 15, "forward_time_ms": 8.0}),
        (1, [5.0, 5.0], {"fps": 1000 / 20, "throughput": 1000 / 15, "tracker_time_ms": 5.0}),
        (4, [], {"throughput": 4000 / 15, "inference_time_ms": None, "fps": None, "forward_time_ms": None}),
    ],
    ids=["batch1", "batch1-tracker", "batch4"],
)
def test_fps_and_throughput_definitions(batch_size: int, tracker: list[float], expected: dict) -> None:
    collector = SystemMetricsCollector()
    for ms in (10.0, 20.0):
        collector.record_latency(ms)
    for ms in (6.0, 10.0):
        collector.record_latency(ms, stage="forward")
    for ms in tracker:
        collector.record_latency(ms, stage="tracker")
    metrics = collector.to_system_metrics(batch_size=batch_size)
    for name, value in expected.items():
        assert getattr(metrics, name) == (pytest.approx(value) if value is not None else None), name


def test_reset_starts_a_new_window_for_epochs() -> None:
    collector = SystemMetricsCollector(interval_s=FAST)
    collector.start()
    try:
        run_loop(collector, 5)
        time.sleep(0.05)
        first = collector.summary()
        collector.reset()
        assert collector.get_latency_stats() is None
        time.sleep(0.02)
        second = collector.summary()
    finally:
        collector.stop()
    assert first.samples > 1 and first.window_s >= 0.05
    assert 0 < second.window_s < first.window_s
    assert second.cpu_memory_used_mb is not None


def test_start_stop_many_times_leaks_no_thread_or_nvml_handle(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = install(monkeypatch, FakeGpu("GPU-a"))
    before = len(threading.enumerate())
    collector = SystemMetricsCollector(device="cuda:0", interval_s=FAST)
    for _ in range(30):
        with collector:
            assert len(sampler_threads()) == 1
    assert len(threading.enumerate()) == before and not sampler_threads()
    assert fake.init_calls == fake.shutdown_calls == 30


def test_a_collector_dropped_while_running_stops_its_thread() -> None:
    SystemMetricsCollector(interval_s=FAST).start()
    gc.collect()
    assert not sampler_threads()


# ------------------------------------------------------------------------------------------------ GPU


def test_gpu_values_are_read_and_converted(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, FakeGpu("GPU-a", memory_used_bytes=3 << 30, power_mw=150_500, temperature_c=71))
    collector = SystemMetricsCollector(device="cuda:0", interval_s=FAST, sync=lambda: None)
    with collector:
        time.sleep(4 * FAST)
    metrics = collector.to_system_metrics()
    assert metrics.gpu_memory_used_mb == metrics.gpu_memory_peak_mb == 3072.0
    assert (metrics.gpu_utilization_pct, metrics.gpu_power_watts, metrics.gpu_temperature_c) == (50, 150.5, 71)
    assert collector.unavailable_reasons == {}


def test_energy_per_image_is_counter_difference_over_timed_images(monkeypatch: pytest.MonkeyPatch) -> None:
    gpu = FakeGpu("GPU-a", energy_mj=1_000)
    install(monkeypatch, gpu)
    collector = SystemMetricsCollector(device="cuda:0", interval_s=FAST, sync=lambda: None, warmup=2)
    with collector:
        run_loop(collector, 2)  # warm-up: the counter moves, but it is not counted
        gpu.energy_mj = 5_000
        run_loop(collector, 8)  # the first timed iteration reads 5000 mJ
        gpu.energy_mj = 13_000  # stop() takes the last reading
    metrics = collector.to_system_metrics(batch_size=2)
    assert metrics.energy_per_image_j == pytest.approx((13.0 - 5.0) / (8 * 2))
    assert collector.summary().gpu_energy_j == pytest.approx(12.0)


def test_gpu_is_found_by_uuid_from_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, FakeGpu("GPU-aaaa", power_mw=10_000), FakeGpu("GPU-bbbb", power_mw=20_000))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-bbbb")
    collector = SystemMetricsCollector(device="cuda:0", interval_s=FAST, sync=lambda: None)
    with collector:
        pass
    assert collector.to_system_metrics().gpu_power_watts == 20.0


def test_several_gpus_combine(monkeypatch: pytest.MonkeyPatch) -> None:
    install(
        monkeypatch,
        FakeGpu("GPU-a", utilization_pct=20, temperature_c=50, power_mw=10_000),
        FakeGpu("GPU-b", utilization_pct=60, temperature_c=70, power_mw=30_000),
    )
    collector = SystemMetricsCollector(device="0,1", interval_s=FAST, sync=lambda: None)
    with collector:
        pass
    metrics = collector.to_system_metrics()
    assert (metrics.gpu_utilization_pct, metrics.gpu_temperature_c, metrics.gpu_power_watts) == (40, 70, 40)
    assert metrics.gpu_memory_used_mb == 2048


def test_unsupported_query_is_absent_with_reason_and_the_rest_works(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, FakeGpu("GPU-a", unsupported={"power", "energy"}))
    collector = SystemMetricsCollector(device="cuda", interval_s=FAST, sync=lambda: None)
    with collector:
        run_loop(collector, 3)
    metrics = collector.to_system_metrics()
    assert metrics.gpu_power_watts is None and metrics.energy_per_image_j is None
    assert metrics.gpu_memory_used_mb == 1024 and metrics.gpu_temperature_c == 60
    reasons = collector.unavailable_reasons
    assert set(reasons) == {"gpu_power_watts", "energy_per_image_j"}
    assert "Not Supported" in reasons["gpu_power_watts"] and "GPU-a" in reasons["gpu_power_watts"]


def test_no_driver_leaves_gpu_fields_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, driver=False)
    collector = SystemMetricsCollector(device="cuda:0", interval_s=FAST, sync=lambda: None)
    with collector:
        run_loop(collector, 3)
    metrics = collector.to_system_metrics()
    assert all(getattr(metrics, name) is None for name in GPU_FIELDS)
    assert metrics.inference_time_ms is not None and metrics.cpu_memory_used_mb is not None
    assert collector.unavailable_reasons["gpu"].startswith("NVML: NVML Shared Library Not Found")


def test_lost_gpu_stops_gpu_sampling_not_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    gpu = FakeGpu("GPU-a", lost_after_reads=5 * 3)  # three full readings, then GpuIsLost
    install(monkeypatch, gpu)
    collector = SystemMetricsCollector(device="cuda:0", interval_s=FAST, sync=lambda: None)
    with collector:
        run_loop(collector, 20, seconds=FAST / 2)
        time.sleep(5 * FAST)
        assert collector.running and sampler_threads()
    metrics = collector.to_system_metrics()
    assert gpu.reads == 15
    assert "lost during the run" in collector.unavailable_reasons["gpu"]
    assert metrics.gpu_memory_used_mb == 1024  # what was read before the loss
    assert metrics.energy_per_image_j is None
    assert metrics.inference_time_ms is not None and collector.summary().samples > 4


def test_an_exception_in_the_sampler_never_kills_it(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, FakeGpu("GPU-a", failing={"temperature"}))
    collector = SystemMetricsCollector(device="cuda:0", interval_s=FAST, sync=lambda: None)
    with collector:
        time.sleep(6 * FAST)
        assert sampler_threads()[0].is_alive()
    assert collector._sampler.errors >= 3
    assert "RuntimeError: fake failure in temperature" in collector.unavailable_reasons["sampler"]


def test_cuda_device_without_torch_cuda_is_not_synchronised(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, FakeGpu("GPU-a"))
    collector = SystemMetricsCollector(device="cuda:0")
    if "torch" in sys.modules and sys.modules["torch"].cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert "not synchronised" in collector.unavailable_reasons["sync"]


# ----------------------------------------------------------------------------------------- mapping


@pytest.mark.parametrize(
    ("device", "expected"),
    [(None, []), ("cpu", []), ("mps", []), ("cuda", [0]), ("cuda:2", [2]), (3, [3]), ("0,1", [0, 1])],
)
def test_parse_cuda_indices(device: object, expected: list[int]) -> None:
    assert parse_cuda_indices(device) == expected


def test_parse_cuda_indices_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="got 'tpu'"):
        parse_cuda_indices("tpu")


@pytest.mark.parametrize(
    ("indices", "visible", "uuids", "expected"),
    [
        ([0, 1], None, None, [0, 1]),
        ([1], "3,1", None, [1]),
        ([0], "GPU-8a1f,1", None, ["GPU-8a1f"]),
        ([1], "0,1", ["GPU-x", "GPU-y"], ["GPU-y"]),
    ],
    ids=["unset", "index-list", "uuid-entry", "torch-uuids-win"],
)
def test_nvml_targets(indices: list[int], visible: str | None, uuids: list[str] | None, expected: list) -> None:
    assert nvml_targets(indices, cuda_visible_devices=visible, cuda_uuids=uuids) == expected


def test_nvml_targets_rejects_invisible_device() -> None:
    with pytest.raises(ValueError, match="not visible"):
        nvml_targets([1], cuda_visible_devices="0")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", []), ("-1", []), ("0,2", ["0", "2"]), ("1,bad,2", ["1"]), ("MIG-x", ["MIG-x"])],
)
def test_parse_cuda_visible_devices(value: str | None, expected: list[str] | None) -> None:
    assert parse_cuda_visible_devices(value) == expected


def test_reader_prefix_uuid_and_unknown_uuid(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, FakeGpu("GPU-1234-5678"), FakeGpu("GPU-abcd-ef00"))
    reader = NvmlGpuReader(["GPU-abcd"])
    assert reader.open() and reader.uuids == ["GPU-abcd-ef00"]
    reader.close()
    missing = NvmlGpuReader(["GPU-ffff"])
    assert not missing.open() and "no NVIDIA GPU has a UUID" in missing.reason
    missing.close()

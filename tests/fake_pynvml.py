"""A small stand-in for the ``pynvml`` module (nvidia-ml-py), the only fake in yololab's tests.

It implements just the NVML calls :mod:`yololab.adapters.nvml` makes, raises the *real* ``pynvml.NVMLError``
subclasses (so error handling is tested against the real classes and codes), and lets a test script what each
GPU reports: values, ``NotSupported`` queries, a missing driver, a GPU lost after some readings.
Install it with ``monkeypatch.setitem(sys.modules, "pynvml", FakeNvml([...]))``.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field

import pynvml as real

QUERIES = ("memory", "utilization", "power", "temperature", "energy")


@dataclass
class FakeGpu:
    """What one fake GPU reports. Units are NVML's: bytes, %, milliwatts, deg C, millijoules."""

    uuid: str
    memory_used_bytes: int = 1 << 30
    utilization_pct: int = 50
    power_mw: int = 100_000
    temperature_c: int = 60
    energy_mj: int = 0
    unsupported: set[str] = field(default_factory=set)  # QUERIES answering NotSupported
    failing: set[str] = field(default_factory=set)  # QUERIES raising a non-NVML exception
    lost_after_reads: int | None = None  # GpuIsLost once this many queries have been answered
    reads: int = 0

    def answer(self, query: str, value: object) -> object:
        if self.lost_after_reads is not None and self.reads >= self.lost_after_reads:
            raise real.NVMLError(real.NVML_ERROR_GPU_IS_LOST)
        if query in self.unsupported:
            raise real.NVMLError(real.NVML_ERROR_NOT_SUPPORTED)
        if query in self.failing:
            raise RuntimeError(f"fake failure in {query}")
        self.reads += 1
        return value


class FakeNvml(types.ModuleType):
    """The fake module: ``gpus`` in NVML (PCI) order; ``driver=False`` behaves like a machine without one."""

    NVMLError = real.NVMLError
    NVML_TEMPERATURE_GPU = real.NVML_TEMPERATURE_GPU
    NVML_ERROR_GPU_IS_LOST = real.NVML_ERROR_GPU_IS_LOST
    NVML_ERROR_NOT_SUPPORTED = real.NVML_ERROR_NOT_SUPPORTED
    NVML_ERROR_NO_PERMISSION = real.NVML_ERROR_NO_PERMISSION
    NVML_ERROR_FUNCTION_NOT_FOUND = real.NVML_ERROR_FUNCTION_NOT_FOUND

    def __init__(self, gpus: list[FakeGpu], *, driver: bool = True) -> None:
        super().__init__("pynvml")
        self.gpus = gpus
        self.driver = driver
        self.init_calls = 0
        self.shutdown_calls = 0

    def nvmlInit(self) -> None:
        if not self.driver:
            raise real.NVMLError(real.NVML_ERROR_LIBRARY_NOT_FOUND)
        self.init_calls += 1

    def nvmlShutdown(self) -> None:
        self.shutdown_calls += 1

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeGpu:
        if not 0 <= index < len(self.gpus):
            raise real.NVMLError(real.NVML_ERROR_INVALID_ARGUMENT)
        return self.gpus[index]

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> FakeGpu:
        for gpu in self.gpus:
            if gpu.uuid == uuid:
                return gpu
        raise real.NVMLError(real.NVML_ERROR_NOT_FOUND)

    def nvmlDeviceGetUUID(self, gpu: FakeGpu) -> str:
        return gpu.uuid

    def nvmlDeviceGetMemoryInfo(self, gpu: FakeGpu) -> types.SimpleNamespace:
        used = gpu.answer("memory", gpu.memory_used_bytes)
        return types.SimpleNamespace(used=used, total=80 << 30, free=(80 << 30) - used)

    def nvmlDeviceGetUtilizationRates(self, gpu: FakeGpu) -> types.SimpleNamespace:
        return types.SimpleNamespace(gpu=gpu.answer("utilization", gpu.utilization_pct), memory=10)

    def nvmlDeviceGetPowerUsage(self, gpu: FakeGpu) -> int:
        return gpu.answer("power", gpu.power_mw)  # type: ignore[return-value]

    def nvmlDeviceGetTemperature(self, gpu: FakeGpu, sensor: int) -> int:
        assert sensor == real.NVML_TEMPERATURE_GPU
        return gpu.answer("temperature", gpu.temperature_c)  # type: ignore[return-value]

    def nvmlDeviceGetTotalEnergyConsumption(self, gpu: FakeGpu) -> int:
        return gpu.answer("energy", gpu.energy_mj)  # type: ignore[return-value]

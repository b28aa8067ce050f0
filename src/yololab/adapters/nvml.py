"""NVML GPU reader (package ``nvidia-ml-py``, module ``pynvml``): the only yololab module importing ``pynvml``.

NVML numbers devices in PCI order and ignores ``CUDA_VISIBLE_DEVICES``, while CUDA (and torch) number the
visible devices, by default fastest first. :func:`nvml_targets` therefore maps CUDA indices to NVML selectors by
UUID whenever it can (torch's device UUIDs, or UUIDs written in ``CUDA_VISIBLE_DEVICES``).

Nothing here raises for a missing driver, an unsupported query or a GPU that falls off the bus: the reader
records a reason (``reason`` for the whole GPU, ``field_reasons`` per quantity) and the field is absent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

_MIB = float(1 << 20)

GPU_FIELDS = ("memory_used_mb", "utilization_pct", "power_watts", "temperature_c", "energy_j")
"""Quantities a reading holds, in the units their names carry."""

_NVML_QUERIES: dict[str, Callable[[Any, Any], float]] = {
    "memory_used_mb": lambda nv, h: nv.nvmlDeviceGetMemoryInfo(h).used / _MIB,
    "utilization_pct": lambda nv, h: float(nv.nvmlDeviceGetUtilizationRates(h).gpu),
    "power_watts": lambda nv, h: nv.nvmlDeviceGetPowerUsage(h) / 1000.0,  # NVML: milliwatts
    "temperature_c": lambda nv, h: float(nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU)),
    "energy_j": lambda nv, h: nv.nvmlDeviceGetTotalEnergyConsumption(h) / 1000.0,  # NVML: mJ since driver load
}

_COMBINE: dict[str, Callable[[list[float]], float]] = {
    "memory_used_mb": sum,
    "utilization_pct": lambda values: sum(values) / len(values),
    "power_watts": sum,
    "temperature_c": max,
    "energy_j": sum,
}


@dataclass(frozen=True, slots=True)
class GpuReading:
    """One NVML reading, combined over the GPUs read; ``None`` = not readable.

    Over several GPUs memory, power and energy are summed, utilisation is the mean and temperature the maximum.

    Attributes:
        memory_used_mb: device memory in use, all processes (MiB, ``nvmlDeviceGetMemoryInfo().used``).
        utilization_pct: percent of the last sample period (1/6 s to 1 s) a kernel ran (``.gpu`` rate).
        power_watts: board power draw (W; NVML gives mW).
        temperature_c: GPU die temperature (deg C).
        energy_j: energy counter since the driver loaded (J; NVML gives mJ; Volta and newer).
    """

    memory_used_mb: float | None = None
    utilization_pct: float | None = None
    power_watts: float | None = None
    temperature_c: float | None = None
    energy_j: float | None = None


def parse_cuda_visible_devices(value: str | None) -> list[str] | None:
    """Entries of ``CUDA_VISIBLE_DEVICES`` as CUDA reads them, or ``None`` when the variable is unset.

    CUDA stops at the first invalid entry, and ``-1`` (or an empty value) hides every device.

    Example:
        >>> parse_cuda_visible_devices("2, GPU-8a1f,-1,3")
        ['2', 'GPU-8a1f']
    """
    if value is None:
        return None
    entries: list[str] = []
    for raw in value.split(","):
        entry = raw.strip()
        if not (entry.isdigit() or entry.startswith(("GPU-", "MIG-"))):
            break
        entries.append(entry)
    return entries


def nvml_targets(
    cuda_indices: Sequence[int],
    *,
    cuda_visible_devices: str | None = None,
    cuda_uuids: Sequence[str] | None = None,
) -> list[int | str]:
    """NVML selectors (NVML index or UUID) of the GPUs that CUDA numbers ``cuda_indices``.

    Preference order: ``cuda_uuids`` (what torch reports for each visible device, exact), then the entries of
    ``CUDA_VISIBLE_DEVICES`` (a UUID entry is exact; an integer entry is exact only with
    ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` or a single GPU), then the CUDA index itself.

    Args:
        cuda_indices: device numbers as CUDA/torch see them (``cuda:1`` -> 1).
        cuda_visible_devices: the value of ``CUDA_VISIBLE_DEVICES``, ``None`` when unset.
        cuda_uuids: UUID of every CUDA-visible device in CUDA order (``"GPU-..."``), when known.

    Raises:
        ValueError: an index beyond the devices visible to CUDA.

    Example:
        >>> nvml_targets([1], cuda_visible_devices="3,1")
        [1]
        >>> nvml_targets([0], cuda_visible_devices="GPU-8a1f,1")
        ['GPU-8a1f']
    """
    if cuda_uuids is not None:
        visible: list[str] | None = list(cuda_uuids)
    else:
        visible = parse_cuda_visible_devices(cuda_visible_devices)
    if visible is None:
        return list(cuda_indices)
    targets: list[int | str] = []
    for index in cuda_indices:
        if not 0 <= index < len(visible):
            raise ValueError(f"CUDA device {index} is not visible: {len(visible)} device(s) visible ({visible})")
        entry = visible[index]
        targets.append(int(entry) if entry.isdigit() else entry)
    return targets


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


class NvmlGpuReader:
    """Reads memory, utilisation, power, temperature and energy of some GPUs through NVML.

    ``open()`` never raises: without a driver (``NVMLError_LibraryNotFound``) or without the package,
    ``reason`` says why and ``read()`` returns ``None``. A query the GPU does not support (``NotSupported``,
    ``NoPermission``, ``FunctionNotFound``) is dropped for the rest of the run and explained in
    ``field_reasons``; any other NVML error skips that quantity for one reading. A lost GPU (``GpuIsLost``)
    ends reading: ``lost`` turns true and ``reason`` says so. Thread-safe as NVML is; ``open``/``close``
    pairs may repeat (NVML reference-counts ``nvmlInit``).

    Args:
        targets: NVML selectors, from :func:`nvml_targets`: an NVML index, or a UUID (``"GPU-..."``, a prefix
            is enough, as in ``CUDA_VISIBLE_DEVICES``; ``"MIG-..."``).
    """

    def __init__(self, targets: Sequence[int | str]) -> None:
        self.targets = list(targets)
        self.uuids: list[str] = []
        self.reason: str | None = None
        self.field_reasons: dict[str, str] = {}
        self.lost = False
        self.transient_errors = 0
        self._nvml: Any = None
        self._handles: list[Any] = []

    @property
    def available(self) -> bool:
        """True while the GPUs are open and readable."""
        return self._nvml is not None and self.reason is None

    def open(self) -> bool:
        """Initialise NVML and find the target GPUs; returns ``available``."""
        self.reason, self.lost, self.field_reasons = None, False, {}
        try:
            import pynvml
        except ImportError:
            self.reason = "NVML: module pynvml missing (pip install nvidia-ml-py)"
            return False
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as err:
            self.reason = f"NVML: {err} (no NVIDIA GPU or driver)"
            return False
        self._nvml = pynvml
        if not self.targets:
            self.reason = "no GPU selected"
        try:
            self._handles = [self._handle(target) for target in self.targets]
            self.uuids = [_text(pynvml.nvmlDeviceGetUUID(h)) for h in self._handles]
        except (pynvml.NVMLError, LookupError) as err:
            self.reason = f"NVML: cannot open GPU(s) {self.targets}: {err}"
        return self.available

    def close(self) -> None:
        """Release NVML (safe to call twice, or after a failed ``open``)."""
        nvml, self._nvml, self._handles = self._nvml, None, []
        if nvml is not None:
            with contextlib.suppress(nvml.NVMLError):
                nvml.nvmlShutdown()

    def read(self) -> GpuReading | None:
        """One reading of every supported quantity, combined over the GPUs; ``None`` when not available."""
        if not self.available:
            return None
        values: dict[str, float] = {}
        for field in GPU_FIELDS:
            if field in self.field_reasons:
                continue
            value = self._read_field(field)
            if self.lost:
                return None
            if value is not None:
                values[field] = value
        return GpuReading(**values)

    def _read_field(self, field: str) -> float | None:
        nv = self._nvml
        per_gpu: list[float] = []
        for handle, uuid in zip(self._handles, self.uuids, strict=True):
            try:
                per_gpu.append(float(_NVML_QUERIES[field](nv, handle)))
            except nv.NVMLError as err:
                self._on_error(field, uuid, err)
                return None
        return _COMBINE[field](per_gpu)

    def _on_error(self, field: str, uuid: str, err: Exception) -> None:
        nv = self._nvml
        code = getattr(err, "value", None)
        if code == nv.NVML_ERROR_GPU_IS_LOST:
            self.lost = True
            self.reason = f"GPU {uuid} lost during the run (NVML: {err}); GPU sampling stopped"
        elif code in (nv.NVML_ERROR_NOT_SUPPORTED, nv.NVML_ERROR_NO_PERMISSION, nv.NVML_ERROR_FUNCTION_NOT_FOUND):
            self.field_reasons[field] = f"NVML: {err} on GPU {uuid}"
        else:
            self.transient_errors += 1

    def _handle(self, target: int | str) -> Any:
        nv = self._nvml
        if isinstance(target, int):
            return nv.nvmlDeviceGetHandleByIndex(target)
        if target.startswith("MIG-"):
            return nv.nvmlDeviceGetHandleByUUID(target)
        prefix = target if target.startswith("GPU-") else f"GPU-{target}"
        for index in range(nv.nvmlDeviceGetCount()):
            handle = nv.nvmlDeviceGetHandleByIndex(index)
            if _text(nv.nvmlDeviceGetUUID(handle)).startswith(prefix):
                return handle
        raise LookupError(f"no NVIDIA GPU has a UUID starting with {prefix!r}")

"""Device specs as Ultralytics and torch accept them (``cpu``, ``cuda:1``, ``0,1`` ...), read once, here. Pure."""

from __future__ import annotations

__all__ = ["is_cuda", "parse_cuda_indices"]


def parse_cuda_indices(device: str | int | None) -> list[int]:
    """CUDA device numbers named by a device spec; ``[]`` for CPU.

    Accepts what Ultralytics and torch accept: ``None``/``"cpu"``/``"mps"`` (no CUDA device), ``"cuda"``
    (device 0), ``"cuda:1"``, ``1``, ``"0,1"``, or a ``torch.device`` (through ``str()``).

    Example:
        >>> parse_cuda_indices("cuda:1"), parse_cuda_indices("0,1"), parse_cuda_indices("cpu")
        ([1], [0, 1], [])
    """
    if device is None:
        return []
    if isinstance(device, int):
        return [device]
    spec = str(device).strip().lower()
    if spec in ("", "cpu", "mps"):
        return []
    if spec == "cuda":
        return [0]
    if spec.startswith("cuda:"):
        spec = spec[len("cuda:") :]
    try:
        return [int(part) for part in spec.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N', N or 'N,M', got {device!r}") from None


def is_cuda(device: str | int | None) -> bool:
    """Whether a device spec names an NVIDIA GPU (``cuda``, ``cuda:0``, ``0``, ``0,1``); ``cpu`` and ``mps`` do not.

    Example:
        >>> is_cuda("0,1"), is_cuda("cpu"), is_cuda("mps")
        (True, False, False)
    """
    try:
        return bool(parse_cuda_indices(device))
    except ValueError:
        return False

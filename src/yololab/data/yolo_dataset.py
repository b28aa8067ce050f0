"""The one reader of Ultralytics dataset files (``data.yaml``): class names and the image files of each split.

Layout (Ultralytics' detection format)::

    path: /data/coco8            # root; relative entries below are relative to it (default: the YAML's folder)
    train: images/train          # a folder, a list of folders, or a .txt list of image files
    val: images/val
    names: {0: person, 1: car}   # or a list: [person, car]

Every problem is a :class:`DatasetError` naming the file and what was expected; nothing here imports OpenCV,
Ultralytics or torch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
"""Image file suffixes a split folder is searched for (lower case)."""

__all__ = ["IMAGE_SUFFIXES", "DatasetError", "YoloDataset", "label_path", "read_data_yaml"]


class DatasetError(ValueError):
    """A dataset file is missing, unreadable or does not describe a detection dataset; the message says why."""


@dataclass(frozen=True)
class YoloDataset:
    """A parsed ``data.yaml``.

    Attributes:
        yaml_path: The file (absolute).
        root: The folder relative split entries are resolved against.
        names: Class names, index = class id (0-based).
        splits: Raw split entries (``train``, ``val``, ``test``) as written.
    """

    yaml_path: Path
    root: Path
    names: list[str]
    splits: dict[str, Any]
    _found: dict[str, tuple[Path, ...]] = field(default_factory=dict, compare=False, repr=False)
    _digests: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def images(self, split: str = "val") -> list[Path]:
        """Image files of ``split``, sorted per folder (searched once; a dataset is read once per experiment).

        Raises:
            DatasetError: the split is not in the file, a folder or list file is missing, or no image was found.
        """
        if split not in self._found:
            self._found[split] = tuple(self._search(split))
        return list(self._found[split])

    def _search(self, split: str) -> list[Path]:
        entries = self.splits.get(split)
        if entries is None:
            raise DatasetError(f"{self.yaml_path}: no '{split}' entry; expected a folder or list of image folders")
        files: list[Path] = []
        for entry in [entries] if isinstance(entries, str) else list(entries):
            path = Path(str(entry)).expanduser()
            path = path if path.is_absolute() else self.root / path
            if not path.exists():
                raise DatasetError(f"{self.yaml_path}: '{split}' names {path}, which does not exist")
            if path.is_file() and path.suffix == ".txt":
                files += [_resolve(line.strip(), self.root) for line in path.read_text().splitlines() if line.strip()]
            elif path.is_dir():
                files += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            else:
                files.append(path)
        if not files:
            raise DatasetError(
                f"{self.yaml_path}: the '{split}' split holds no images (expected files ending in "
                f"{', '.join(IMAGE_SUFFIXES)})"
            )
        return files

    def digest(self, split: str = "val") -> str:
        """A short fingerprint of ``split`` (16 hex characters): equal for the same files, different otherwise.

        SHA-256 over the class names and, per image in order, its path relative to :attr:`root`, its size and the
        size of its label file (``images/`` -> ``labels/``, ``.txt``; -1 when missing). File sizes, not bytes, so a
        100 000-image dataset is fingerprinted in about a second; an edit that keeps every size equal goes unseen.
        """
        if split in self._digests:
            return self._digests[split]
        sha = hashlib.sha256("\n".join(self.names).encode())
        for image in self.images(split):
            try:
                rel = image.relative_to(self.root).as_posix()
            except ValueError:
                rel = image.as_posix()
            sha.update(f"\0{rel}\0{_size(image)}\0{_size(label_path(image))}".encode())
        self._digests[split] = sha.hexdigest()[:16]
        return self._digests[split]


def label_path(image: Path) -> Path:
    """The YOLO label file of ``image``, as Ultralytics finds it (the last ``images`` folder -> ``labels``, ``.txt``).

    Example:
        >>> label_path(Path("/d/images/val/0001.jpg")).as_posix()
        '/d/labels/val/0001.txt'
    """
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _resolve(entry: str, root: Path) -> Path:
    path = Path(entry)
    return path if path.is_absolute() else root / path


def _names(raw: Any, source: Path) -> list[str]:
    """Class names from a ``names`` entry: a list, or a mapping from consecutive ids 0..n-1."""
    if isinstance(raw, list):
        return [str(n) for n in raw]
    if isinstance(raw, dict):
        try:
            ids = sorted(int(k) for k in raw)
        except (TypeError, ValueError):
            raise DatasetError(f"{source}: 'names' keys must be class ids 0, 1, ...; got {list(raw)[:5]}") from None
        if ids != list(range(len(ids))):
            raise DatasetError(f"{source}: 'names' ids must be 0..{len(ids) - 1} without gaps; got {ids[:10]}")
        return [str(raw[k] if k in raw else raw[str(k)]) for k in ids]
    raise DatasetError(f"{source}: no 'names' list or mapping; expected e.g. 'names: {{0: person, 1: car}}'")


def read_data_yaml(path: str | Path) -> YoloDataset:
    r"""Read an Ultralytics ``data.yaml``.

    Raises:
        DatasetError: the file cannot be read or parsed, is not a mapping, or has no valid ``names``.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "data.yaml"
        >>> _ = p.write_text("val: images\nnames: {0: person, 1: car}\n")
        >>> read_data_yaml(p).names
        ['person', 'car']
    """
    import yaml

    path = Path(path).expanduser().resolve()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise DatasetError(f"{path}: cannot be read ({err.strerror or err})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise DatasetError(f"{path}{where}: invalid YAML ({getattr(err, 'problem', err)})") from None
    if not isinstance(raw, dict):
        raise DatasetError(f"{path}: expected a mapping with 'train', 'val' and 'names'")
    root = Path(str(raw.get("path") or path.parent)).expanduser()
    if not root.is_absolute() and not root.exists():  # Ultralytics: as given when it exists, else elsewhere
        root = path.parent / root
    splits = {k: raw[k] for k in ("train", "val", "test") if raw.get(k) is not None}
    return YoloDataset(path, root.resolve(), _names(raw.get("names"), path), splits)

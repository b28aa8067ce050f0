"""Readers for MOTChallenge-format data: ``gt.txt`` / result files, ``seqinfo.ini`` and benchmark folders.

Layout (MOT16/17/20, DanceTrack, yololab's synthetic sequences)::

    GT_DIR/<sequence>/gt/gt.txt          frame, id, x, y, w, h, conf, class, visibility
    GT_DIR/<sequence>/seqinfo.ini        [Sequence] seqLength = N   (optional: else taken from the data, warned)
    PRED_DIR/<sequence>.txt              frame, id, x, y, w, h, conf[, ...]   (or PRED_DIR/data/<sequence>.txt)
    SEQMAP (optional)                    a header line, then one sequence name per line

Errors (:class:`~yololab.metrics.mot.frames.MOTDataError`, naming file and line) and warnings
(:class:`MOTDataWarning`) are listed in ``docs/mot.md``. Nothing is dropped silently. Files are parsed with
pandas' C reader when pandas is importable, else with numpy; Python only looks at lines to explain an error.
"""

from __future__ import annotations

import configparser
import math
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yololab.metrics.mot.frames import Frames, MOTDataError, MOTSequence
from yololab.metrics.mot.prepare import RowOrigin

__all__ = [
    "LazySequences",
    "MOTDataWarning",
    "MOTFolder",
    "detect_benchmark",
    "load_benchmark",
    "read_class_list",
    "read_mot_file",
    "read_seqinfo",
    "read_seqmap",
    "resolve_benchmark",
    "write_mot_file",
]

CLASS_LIST_FILE = "classes.txt"
"""Beside the sequences: one class name a line, line *k* naming ground-truth class id *k* (custom data)."""

BENCHMARKS = ("MOT16", "MOT17", "MOT20")
"""The MOTChallenge protocols (preprocessing) yololab reproduces."""

_MIN_COLUMNS = 6
_SEPARATORS = re.compile(rb"[,\s]+")


class MOTDataWarning(UserWarning):
    """Input that is evaluated but deserves attention (missing result file, no ``seqinfo.ini``, empty file)."""


def _fields(line: bytes) -> list[bytes]:
    return [f for f in _SEPARATORS.split(line.strip()) if f]


def _diagnose(path: Path, data: bytes, min_columns: int) -> MOTDataError:
    """Explain why a file does not parse: the first bad line and what was expected (slow path, errors only)."""
    expected = None
    for number, line in enumerate(data.splitlines(), start=1):
        parts = _fields(line)
        if not parts:
            continue
        where = f"{path}, line {number}"
        if expected is None:
            expected = len(parts)
            if expected < min_columns:
                return MOTDataError(
                    f"{where}: {expected} columns; expected at least {min_columns} "
                    "(frame, id, x, y, w, h[, conf, class, visibility])"
                )
        if len(parts) != expected:
            return MOTDataError(f"{where}: {len(parts)} columns; expected {expected} like the first line")
        for col, raw in enumerate(parts, start=1):
            try:
                value = float(raw)
            except ValueError:
                text = raw.decode(errors="replace")
                return MOTDataError(f"{where}, column {col}: {text!r} is not a number; expected a number")
            if not math.isfinite(value):
                return MOTDataError(f"{where}, column {col}: {value}; expected a finite number")
    return MOTDataError(f"{path}: cannot be parsed as MOTChallenge rows")


def _line_numbers(data: bytes, num_rows: int) -> np.ndarray | None:
    """1-based line number of each parsed row.

    ``1..n`` for a file without blank lines (the usual case), else found by a pass over the lines; None if the rows
    cannot be told apart from the lines.
    """
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if lines == num_rows:
        return np.arange(1, num_rows + 1)
    numbers = [i for i, line in enumerate(data.splitlines(), start=1) if line.strip(b" \t\r,")]
    return np.asarray(numbers) if len(numbers) == num_rows else None


def _parse(path: Path, data: bytes) -> np.ndarray:
    """All rows as a float64 array, or raise the diagnosis."""
    stripped = data.lstrip()
    first = stripped[: stripped.find(b"\n")] if b"\n" in stripped else stripped
    comma = b"," in first
    try:
        from io import BytesIO

        import pandas as pd  # optional accelerator; numpy otherwise

        frame = pd.read_csv(
            BytesIO(data),
            header=None,
            sep="," if comma else r"\s+",
            skipinitialspace=True,
            dtype=np.float64,
            engine="c",
        )
        if comma and frame.shape[1] > 1 and frame.iloc[:, -1].isna().all():
            frame = frame.iloc[:, :-1]  # a trailing comma on every line
        arr = frame.to_numpy(dtype=np.float64)
    except ImportError:
        try:
            arr = np.loadtxt(path, delimiter="," if comma else None, ndmin=2, dtype=np.float64)
        except ValueError:
            raise _diagnose(path, data, _MIN_COLUMNS) from None
    except Exception:
        raise _diagnose(path, data, _MIN_COLUMNS) from None
    if arr.ndim != 2 or arr.shape[1] < _MIN_COLUMNS or not np.isfinite(arr).all():
        raise _diagnose(path, data, _MIN_COLUMNS)
    return arr


def read_mot_file(path: str | Path) -> tuple[Frames, RowOrigin]:
    """Read a MOTChallenge ground-truth or result file.

    Columns: ``frame, id, x, y, w, h`` then optionally ``conf, class, visibility`` (further columns, such as the
    world coordinates of result files, are ignored). Commas or whitespace separate fields.

    Args:
        path: the ``.txt`` file.

    Returns:
        The boxes and their origin (file and line of each row) for later error messages. An empty file gives no
        boxes (and a :class:`MOTDataWarning`).

    Raises:
        MOTDataError: fewer than 6 columns, rows with different column counts, a non-numeric field, NaN or
            infinity, a frame number or id that is not an integer.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MOTDataError(f"{path}: cannot be read ({exc.strerror})") from None
    if not data.strip():
        warnings.warn(f"{path}: empty file, no boxes", MOTDataWarning, stacklevel=2)
        return Frames.empty(), RowOrigin(str(path), np.zeros(0, np.int64))
    arr = _parse(path, data)
    origin = RowOrigin(str(path), _line_numbers(data, arr.shape[0]))
    for col, what in ((0, "frame number"), (1, "id")):
        bad = arr[:, col] != np.round(arr[:, col])
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise MOTDataError(f"{origin.where(r)}: {what} {arr[r, col]:g}; expected an integer")
    return Frames.from_rows(arr[:, :9]), origin


@dataclass(frozen=True, slots=True)
class SeqInfo:
    """The ``[Sequence]`` section of a ``seqinfo.ini`` (only what evaluation needs)."""

    name: str
    seq_length: int


def read_seqinfo(path: str | Path) -> SeqInfo:
    """Read ``seqinfo.ini``.

    Raises:
        MOTDataError: no ``[Sequence]`` section, or ``seqLength`` missing or not a positive integer.
    """
    path = Path(path)
    ini = configparser.ConfigParser()
    try:
        ini.read_string(path.read_text(), source=str(path))
    except (configparser.Error, OSError, UnicodeDecodeError) as exc:
        raise MOTDataError(f"{path}: not a valid seqinfo.ini ({exc})") from None
    if not ini.has_option("Sequence", "seqLength"):
        raise MOTDataError(f"{path}: no seqLength in section [Sequence]; expected e.g. 'seqLength=600'")
    raw = ini.get("Sequence", "seqLength")
    if not raw.strip().isdigit() or int(raw) < 1:
        raise MOTDataError(f"{path}: seqLength={raw!r}; expected a positive integer")
    return SeqInfo(name=ini.get("Sequence", "name", fallback=path.parent.name), seq_length=int(raw))


def read_seqmap(path: str | Path) -> list[str]:
    """Sequence names of a seqmap file (first line is a header such as ``name``; blank lines ignored)."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise MOTDataError(f"{path}: cannot be read ({exc.strerror})") from None
    names = [ln.split(",")[0].strip() for ln in lines[1:]]
    return [n for n in names if n]


def detect_benchmark(names: list[str]) -> str:
    """``"MOT16"``/``"MOT17"``/``"MOT20"`` when every sequence name starts with it, else ``"none"``.

    Example:
        >>> detect_benchmark(["MOT17-02-FRCNN", "MOT17-04-FRCNN"]), detect_benchmark(["MOT17-02", "walk"])
        ('MOT17', 'none')
    """
    for bench in BENCHMARKS:
        if names and all(n.startswith(f"{bench}-") for n in names):
            return bench
    return "none"


def resolve_benchmark(requested: str, names: list[str]) -> str:
    """The protocol in effect; the one decision ``eval-mot`` and ``infer`` share.

    ``requested`` (``MOT16|MOT17|MOT20|none``, any case), or for ``auto`` the one :func:`detect_benchmark` finds in
    the sequence names.

    Raises:
        ValueError: ``requested`` is not one of ``auto``, ``none``, ``MOT16``, ``MOT17``, ``MOT20``.

    Example:
        >>> resolve_benchmark("auto", ["MOT20-01"]), resolve_benchmark("mot17", ["x"]), resolve_benchmark("none", [])
        ('MOT20', 'MOT17', 'none')
    """
    value = requested.strip()
    if value.lower() == "auto":
        return detect_benchmark(names)
    if value.lower() == "none":
        return "none"
    if value.upper() in BENCHMARKS:
        return value.upper()
    raise ValueError(f"benchmark {requested!r}: expected auto, none, {', '.join(BENCHMARKS)}")


def read_class_list(mot_dir: str | Path) -> list[str] | None:
    """The sequences' class names from ``<mot_dir>/classes.txt`` (line *k* = class id *k*); None when absent.

    Raises:
        MOTDataError: the file exists but cannot be read, or a line is blank or a name repeats.
    """
    path = Path(mot_dir) / CLASS_LIST_FILE
    if not path.is_file():
        return None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise MOTDataError(f"{path}: cannot be read ({exc})") from None
    while lines and not lines[-1].strip():
        lines.pop()
    names = [ln.strip() for ln in lines]
    for number, name in enumerate(names, start=1):
        if not name:
            raise MOTDataError(f"{path}, line {number}: blank; expected the name of class {number}")
        if names.index(name) != number - 1:
            raise MOTDataError(f"{path}, line {number}: {name!r} repeats line {names.index(name) + 1}")
    return names


def write_mot_file(path: str | Path, rows: np.ndarray) -> None:
    """Write a MOTChallenge result file: ``frame,id,x,y,w,h,conf,class,-1,-1`` per line (TrackEval reads it).

    Args:
        path: the ``.txt`` file (folders are created).
        rows: ``(N, >= 8)`` array of ``frame, id, x, y, w, h, conf, class``; pixel coordinates, 1-based frames.
            Boxes are written with 3 decimals, confidences with 5.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = np.asarray(rows, dtype=float)
    rows = rows.reshape(len(rows), -1) if rows.size else np.zeros((0, 10))
    out = np.full((len(rows), 10), -1.0)
    out[:, :8] = rows[:, :8]
    fmt = ["%d", "%d", "%.3f", "%.3f", "%.3f", "%.3f", "%.5f", "%d", "%d", "%d"]
    np.savetxt(path, out, fmt=fmt, delimiter=",")


class LazySequences:
    """The sequences of a folder, read from disk one at a time while iterating.

    Evaluation so holds one sequence in memory, as TrackEval. Iterating again reads the files again.
    """

    def __init__(self, names: list[str], read: Callable[[str], MOTSequence]):
        self.names = names
        self._read = read

    def __iter__(self) -> Iterator[MOTSequence]:
        return (self._read(name) for name in self.names)

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class MOTFolder:
    """A benchmark folder: its sequences (read lazily) and, once read, where each row came from."""

    sequences: LazySequences
    origins: dict[str, tuple[RowOrigin, RowOrigin]]


def _pred_folder(pred_dir: Path) -> Path:
    data = pred_dir / "data"
    if data.is_dir() and not any(pred_dir.glob("*.txt")):
        return data
    return pred_dir


def _sequence_length(seq_dir: Path, gt: Frames, pred: Frames) -> int:
    ini = seq_dir / "seqinfo.ini"
    if ini.is_file():
        return read_seqinfo(ini).seq_length
    frames = np.concatenate([gt.frame, pred.frame])
    length = int(frames.max()) if frames.size else 1
    warnings.warn(
        f"{ini}: not found; sequence length taken from the data: {length} frames (the last frame with a box)",
        MOTDataWarning,
        stacklevel=3,
    )
    return length


def load_benchmark(
    gt_dir: str | Path,
    pred_dir: str | Path,
    *,
    seqmap: str | Path | None = None,
    names: list[str] | None = None,
) -> MOTFolder:
    """Read every sequence of a MOTChallenge-layout folder and its tracker results.

    Args:
        gt_dir: folder holding one folder per sequence (``<seq>/gt/gt.txt``, ``<seq>/seqinfo.ini``).
        pred_dir: folder holding ``<seq>.txt`` result files (or ``data/<seq>.txt``, TrackEval's layout).
        seqmap: optional seqmap file restricting (and ordering) the sequences.
        names: optional sequence names restricting (and ordering) the sequences, as a seqmap does; result files of
            other sequences are then ignored.

    Returns:
        The sequences (sorted by name unless a seqmap orders them; files are read while iterating) and their row
        origins (filled as each sequence is read). Pass both to :func:`~yololab.metrics.mot.evaluate_mot`.

    Raises:
        MOTDataError: no sequences; a seqmap sequence without ground truth; a result file for a sequence that does
            not exist; while iterating, any invalid file (see :func:`read_mot_file`, :func:`read_seqinfo`).

    Warns:
        MOTDataWarning: a sequence without a result file (evaluated as all missed); a sequence without
            ``seqinfo.ini`` (length from the data); an empty file.
    """
    gt_dir, pred_dir = Path(gt_dir), _pred_folder(Path(pred_dir))
    if not gt_dir.is_dir():
        raise MOTDataError(f"{gt_dir}: ground-truth folder not found")
    if not pred_dir.is_dir():
        raise MOTDataError(f"{pred_dir}: prediction folder not found")
    available = sorted(p.parent.parent.name for p in gt_dir.glob("*/gt/gt.txt"))
    if seqmap is not None:
        names = read_seqmap(seqmap)
        missing = [n for n in names if n not in available]
        if missing:
            raise MOTDataError(f"{seqmap}: sequence {missing[0]!r} has no {gt_dir / missing[0] / 'gt' / 'gt.txt'}")
    elif names is not None:
        missing = [n for n in names if n not in available]
        if missing:
            raise MOTDataError(f"sequence {missing[0]!r} has no {gt_dir / missing[0] / 'gt' / 'gt.txt'}")
    else:
        names = available
    if not names:
        raise MOTDataError(f"{gt_dir}: no sequences found; expected <sequence>/gt/gt.txt inside")
    only_named = seqmap is None and names is not available
    results = {p.stem: p for p in pred_dir.glob("*.txt") if not only_named or p.stem in names}
    unknown = sorted(set(results) - set(names))
    if unknown:
        raise MOTDataError(
            f"{results[unknown[0]]}: result file for sequence {unknown[0]!r}, which is not in the ground truth "
            f"({gt_dir}{', seqmap ' + str(seqmap) if seqmap else ''}); expected one of {names}"
        )
    origins: dict[str, tuple[RowOrigin, RowOrigin]] = {}

    def read(name: str) -> MOTSequence:
        gt, gt_origin = read_mot_file(gt_dir / name / "gt" / "gt.txt")
        if name in results:
            pred, pred_origin = read_mot_file(results[name])
        else:
            warnings.warn(
                f"{pred_dir / (name + '.txt')}: no result file for sequence {name!r}; evaluated as empty "
                "(every ground-truth box missed)",
                MOTDataWarning,
                stacklevel=2,
            )
            pred, pred_origin = Frames.empty(), RowOrigin(str(pred_dir / f"{name}.txt"))
        origins[name] = (gt_origin, pred_origin)
        return MOTSequence(name, gt, pred, _sequence_length(gt_dir / name, gt, pred))

    return MOTFolder(LazySequences(names, read), origins)

"""Readers for MOTChallenge-format data: ``gt.txt`` / result files, ``seqinfo.ini`` and benchmark folders.

Layout (MOT16/17/20, DanceTrack, yololab's synthetic sequences)::

    GT_DIR/<sequence>/gt/gt.txt          frame, id, x, y, w, h, conf, class, visibility
    GT_DIR/<sequence>/seqinfo.ini        [Sequence] seqLength = N   (optional: else taken from the data, warned)
    PRED_DIR/<sequence>.txt              frame, id, x, y, w, h, conf[, ...]   (or PRED_DIR/data/<sequence>.txt)
    SEQMAP (optional)                    a header line, then one sequence name per line

Errors (:class:`~yololab.metrics.mot.frames.MOTDataError`, naming file and line) and warnings
(:class:`MOTDataWarning`) are listed in ``docs/mot.md``. Nothing is dropped silently. Plain comma-separated files are
parsed by :func:`~yololab.metrics.mot.textparse.parse_rows` (vectorised numpy, every value as ``float()`` reads it);
other layouts (whitespace-separated, blank lines, padding) by ``numpy.loadtxt``; Python only looks at lines to explain
an error.
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
from yololab.metrics.mot.textparse import parse_rows

__all__ = [
    "FolderPlan",
    "GroundTruthReader",
    "LazySequences",
    "MOTDataWarning",
    "MOTFolder",
    "detect_benchmark",
    "frames_from_bytes",
    "gt_line",
    "load_benchmark",
    "missing_result_warning",
    "plan_benchmark",
    "read_bytes",
    "read_class_list",
    "read_mot_file",
    "read_seqinfo",
    "read_seqmap",
    "resolve_benchmark",
    "sequence_length",
    "write_mot_file",
]

CLASS_LIST_FILE = "classes.txt"
"""Beside the sequences: one class name a line, line *k* naming ground-truth class id *k* (custom data)."""

BENCHMARKS = ("MOT16", "MOT17", "MOT20")
"""The MOTChallenge protocols (preprocessing) yololab reproduces."""

_MIN_COLUMNS = 6
_READ_COLUMNS = 8
"""``frame, id, x, y, w, h, conf, class``: the columns evaluation uses. The fields of later columns (the ground
truth's visibility, a result file's world coordinates) are checked to be finite numbers, and not kept."""
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


_TRAILING_COMMA = re.compile(rb",[ \t]*(\r?)$", re.MULTILINE)


def _parse_general(path: Path, data: bytes) -> np.ndarray:
    """Rows of any layout ``numpy.loadtxt`` reads (whitespace or commas, blank lines, padding), or the diagnosis."""
    from io import BytesIO

    stripped = data.lstrip()
    first = stripped[: stripped.find(b"\n")] if b"\n" in stripped else stripped
    comma = b"," in first
    if comma:
        lines = [ln for ln in data.splitlines() if ln.strip()]
        if lines and all(ln.rstrip().endswith(b",") for ln in lines):
            data = _TRAILING_COMMA.sub(rb"\1", data)  # a trailing comma on every line: an empty last column
    try:
        return np.loadtxt(BytesIO(data), delimiter="," if comma else None, ndmin=2, dtype=np.float64, comments=None)
    except ValueError:
        raise _diagnose(path, data, _MIN_COLUMNS) from None


def _parse(path: Path, data: bytes) -> tuple[np.ndarray, np.ndarray | None]:
    """All rows as a float64 array and the line number of each, or raise the diagnosis."""
    fast = parse_rows(data, columns=_READ_COLUMNS)
    if fast is not None:
        arr, lines = fast
    else:
        arr = _parse_general(path, data)
        lines = None
    if arr.ndim != 2 or arr.shape[1] < _MIN_COLUMNS or not np.isfinite(arr).all():
        raise _diagnose(path, data, _MIN_COLUMNS)
    return arr, _line_numbers(data, arr.shape[0]) if lines is None else lines


def read_mot_file(path: str | Path) -> tuple[Frames, RowOrigin]:
    """Read a MOTChallenge ground-truth or result file.

    Columns: ``frame, id, x, y, w, h`` then optionally ``conf, class``; further columns (the ground truth's
    visibility, the world coordinates of result files) must hold numbers, but are not kept (no metric uses them:
    the boxes' ``visibility`` is None). Commas or whitespace separate fields.

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
    return frames_from_bytes(path, read_bytes(path))


def read_bytes(path: Path) -> bytes:
    """The bytes of a file, or a :class:`MOTDataError` naming it."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise MOTDataError(f"{path}: cannot be read ({exc.strerror})") from None


def frames_from_bytes(path: Path, data: bytes) -> tuple[Frames, RowOrigin]:
    """:func:`read_mot_file` on bytes already read (``path`` names the file in messages)."""
    if not data.strip():
        warnings.warn(f"{path}: empty file, no boxes", MOTDataWarning, stacklevel=3)
        return Frames.empty(), RowOrigin(str(path), np.zeros(0, np.int64))
    arr, lines = _parse(path, data)
    origin = RowOrigin(str(path), lines)
    for col, what in ((0, "frame number"), (1, "id")):
        bad = arr[:, col] != np.round(arr[:, col])
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise MOTDataError(f"{origin.where(r)}: {what} {arr[r, col]:g}; expected an integer")
    return Frames.from_rows(arr[:, :_READ_COLUMNS]), origin


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
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise MOTDataError(f"{path}: not a valid seqinfo.ini ({exc})") from None
    sections = _plain_ini(text)
    if sections is None:  # anything but plain "[section]" / "key=value" lines: configparser decides
        ini = configparser.ConfigParser()
        try:
            ini.read_string(text, source=str(path))
            sections = {name: dict(ini.items(name)) for name in ini.sections()}
        except configparser.Error as exc:
            raise MOTDataError(f"{path}: not a valid seqinfo.ini ({exc})") from None
    sequence = sections.get("Sequence", {})
    if "seqlength" not in sequence:
        raise MOTDataError(f"{path}: no seqLength in section [Sequence]; expected e.g. 'seqLength=600'")
    raw = sequence["seqlength"]
    if not raw.strip().isdigit() or int(raw) < 1:
        raise MOTDataError(f"{path}: seqLength={raw!r}; expected a positive integer")
    return SeqInfo(name=sequence.get("name", path.parent.name), seq_length=int(raw))


_INI_HEADER = re.compile(r"\[([A-Za-z0-9_. -]+)\]\s*")
_INI_OPTION = re.compile(r"([A-Za-z0-9_.-]+)[ \t]*[=:][ \t]*([^%]*?)\s*")


def _plain_ini(text: str) -> dict[str, dict[str, str]] | None:
    """Sections and options of an INI text made only of plain lines, as ``configparser`` reads them; else None.

    Plain: ``[Section]`` headers (not ``DEFAULT``), ``key=value`` options at the start of a line (keys lowercased,
    values stripped, no ``%``), comments starting with ``#`` or ``;``, blank lines; no section or key twice.
    ``configparser`` takes about 1 ms a file (a seventh of a small sequence's evaluation).
    """
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if not line.strip() or line[0] in "#;":
            continue
        header = _INI_HEADER.fullmatch(line)
        if header is not None:
            name = header.group(1)
            if name in sections or name == "DEFAULT":
                return None
            current = sections[name] = {}
            continue
        option = _INI_OPTION.fullmatch(line)
        if option is None or current is None or option.group(1).lower() in current:
            return None
        current[option.group(1).lower()] = option.group(2)
    return sections


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


def gt_line(
    frame: int, identity: int, box_xywh: tuple[float, float, float, float], conf: int, cls: int, visibility: float
) -> str:
    r"""One ground-truth line, ``frame,id,x,y,w,h,conf,class,visibility`` (the 9 columns of a ground-truth file).

    Example:
        >>> gt_line(3, 7, (10, 20.5, 30, 40), 1, 1, 0.83333)
        '3,7,10,20.5,30,40,1,1,0.8333\n'
    """
    x, y, w, h = box_xywh
    return f"{frame},{identity},{x},{y},{w},{h},{conf},{cls},{visibility:.4f}\n"


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


def sequence_length(seq_dir: Path, gt: Frames, pred: Frames) -> int:
    """``seqLength`` of ``<seq_dir>/seqinfo.ini``, else the last frame with a box (and a :class:`MOTDataWarning`)."""
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


def missing_result_warning(pred_dir: Path, name: str) -> str:
    """The warning for a sequence without a result file."""
    return (
        f"{pred_dir / (name + '.txt')}: no result file for sequence {name!r}; evaluated as empty "
        "(every ground-truth box missed)"
    )


@dataclass(frozen=True)
class FolderPlan:
    """What :func:`plan_benchmark` found: the sequences to evaluate and each one's result file.

    Attributes:
        gt_dir: the ground-truth folder.
        pred_dir: the folder holding the result files (``data/`` of TrackEval's layout when that is where they are).
        names: the sequences, in evaluation order.
        results: sequence -> its result file (sequences without one are absent).
    """

    gt_dir: Path
    pred_dir: Path
    names: list[str]
    results: dict[str, Path]


def plan_benchmark(
    gt_dir: str | Path,
    pred_dir: str | Path,
    *,
    seqmap: str | Path | None = None,
    names: list[str] | None = None,
) -> FolderPlan:
    """Find the sequences and result files :func:`load_benchmark` reads (it checks the folders; reads no data).

    Raises:
        MOTDataError: as :func:`load_benchmark`, for everything that can be told without reading the files.
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
    return FolderPlan(gt_dir, pred_dir, list(names), results)


class GroundTruthReader:
    """Reads ``<seq>/gt/gt.txt`` files, parsing identical bytes once; rows come sorted by frame.

    MOT17 ships each scene's ground truth three times (one copy per public detector: ``-DPM``, ``-FRCNN``,
    ``-SDP``), byte for byte the same; the reader keeps the last file's bytes and boxes, and a file with the same
    bytes gets the same (read-only) boxes, with its own path in messages. MOTChallenge ground truth lists boxes by
    track; evaluation wants them by frame, so the rows are sorted by frame once here (stable: a frame keeps its file
    order, which decides ties as in TrackEval), their line numbers with them.
    """

    def __init__(self) -> None:
        self._data: bytes | None = None
        self._frames: Frames | None = None
        self._lines: np.ndarray | None = None

    def read(self, path: Path) -> tuple[Frames, RowOrigin]:
        """:func:`read_mot_file` of ``path``."""
        data = read_bytes(path)
        if self._frames is not None and data == self._data:
            if not data.strip():
                warnings.warn(f"{path}: empty file, no boxes", MOTDataWarning, stacklevel=2)
            return self._frames, RowOrigin(str(path), self._lines)
        frames, origin = frames_from_bytes(path, data)
        if frames.frame.size > 1 and not bool(np.all(frames.frame[1:] >= frames.frame[:-1])):
            order = np.argsort(frames.frame, kind="stable")
            frames = frames.select(order)
            origin = RowOrigin(origin.source, None if origin.lines is None else origin.lines[order])
        for column in (frames.frame, frames.ids, frames.boxes_xywh, frames.confidence, frames.classes):
            if column is not None:
                column.flags.writeable = False  # shared by the sequences with the same bytes
        self._data, self._frames, self._lines = data, frames, origin.lines
        return frames, origin


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
    plan = plan_benchmark(gt_dir, pred_dir, seqmap=seqmap, names=names)
    gt_dir, pred_dir, results = plan.gt_dir, plan.pred_dir, plan.results
    origins: dict[str, tuple[RowOrigin, RowOrigin]] = {}
    ground_truth = GroundTruthReader()

    def read(name: str) -> MOTSequence:
        gt, gt_origin = ground_truth.read(gt_dir / name / "gt" / "gt.txt")
        if name in results:
            pred, pred_origin = read_mot_file(results[name])
        else:
            warnings.warn(missing_result_warning(pred_dir, name), MOTDataWarning, stacklevel=2)
            pred, pred_origin = Frames.empty(), RowOrigin(str(pred_dir / f"{name}.txt"))
        origins[name] = (gt_origin, pred_origin)
        return MOTSequence(name, gt, pred, sequence_length(gt_dir / name, gt, pred))

    return MOTFolder(LazySequences(plan.names, read), origins)

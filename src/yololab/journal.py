"""The write-ahead journal of a run's MLflow calls: checksummed records, their verification, and the replay state.

Every recorder call is appended here *before* anything is sent (a write-ahead log, the design W&B uses: the
training process writes locally, a separate sender uploads). A journal is one file per run
(``<journal_dir>/<run_key>.jsonl``, created ``0600`` in a ``0700`` folder); each line is one record, written with
one ``write`` and then ``os.fsync`` before the call returns. A line is a JSON object whose first field is a CRC-32
of the rest of the line::

    {"crc":"8c3a51f2","id":"79ee…","v":2,"op":"log_metrics","run_key":"20261127-125721-4b2b2b7e",…}

The checksum is ``zlib.crc32`` of the UTF-8 bytes of ``{`` followed by everything after ``"crc":"…",`` (i.e. the
record serialised without its ``crc`` field), as 8 lower-case hex digits. :func:`scan_journal` verifies every line
and returns the good records and, for every line that cannot be trusted, a :class:`BadRecord` with the line number,
what went wrong (``torn``: the last line, cut short by a crash while it was being written; ``checksum``: the content
does not match its checksum; ``corrupt``: not a record at all) and what the line still shows (run, op, steps).

Every record carries:

- ``id``: a unique record id (uuid4 hex), the unit of "already synced";
- ``v``: the format version (:data:`JOURNAL_VERSION`; version 1 lines, written before checksums, are read as they
  are);
- ``op``: ``start_run``, ``log_params``, ``log_metrics``, ``set_tags``, ``log_input`` (a dataset the run
  used), ``log_artifact`` or ``end_run``;
- ``tracking_uri`` (never with credentials: they come from the environment at sync), ``experiment_name``,
  ``experiment_type``, ``run_key`` (local key of the run);
- ``time_ms``: when the call was made (Unix ms); metrics carry their own explicit ``timestamp`` (ms) and ``step``,
  so a late replay stores exactly what a live call would have stored.

Artifacts are copied to ``<journal>.artifacts/<record id>/`` when logged. Floats are written with Python's ``json``
(``NaN``, ``Infinity`` and ``-Infinity`` literals), which reads them back unchanged.

Replay state lives next to the journal in ``<journal>.state.json`` (ids of the records the server accepted, local
run key -> server run id, runs ended at sync), replaced atomically after every sent batch, so replaying a journal
twice sends nothing twice. The process writing a journal holds ``<journal>.lock`` (an OS file lock, released when
the process ends, however it ends); ``yololab sync`` takes the same lock, so it never replays a journal that a live
experiment is still writing and two syncs never replay one journal at once. This module never imports MLflow.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import uuid
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

JOURNAL_VERSION = 2
"""Version written in every record's ``v`` field (2: checksummed lines)."""

DEFAULT_JOURNAL_DIR = Path(".yololab") / "journal"
"""Where recorders write journals and ``yololab sync`` looks for them, relative to the working directory."""

JOURNAL_SUFFIX = ".jsonl"
FILE_MODE = 0o600
"""Permissions of journal, state, lock and artifact-copy files: the owner only."""
DIR_MODE = 0o700
"""Permissions of the journal folder and of the artifact-copy folders."""

_CRC_PREFIX = '{"crc":"'
_CRC_HEAD = re.compile(r'\{"crc":"([0-9a-f]{8})",')

BadKind = Literal["torn", "checksum", "corrupt"]


class JournalError(ValueError):
    """A journal or its state file cannot be used as it is; the message names the file and why."""


def new_record_id() -> str:
    """A fresh unique record id (32 hex digits)."""
    return uuid.uuid4().hex


def encode_record(record: dict[str, Any]) -> str:
    r"""One journal line (with its newline) for ``record``: ``{"crc":"<crc32 of the rest>",<record fields>}``.

    Example:
        >>> line = encode_record({"id": "a", "op": "end_run"})
        >>> line
        '{"crc":"b8dca918","id":"a","op":"end_run"}\n'
        >>> decode_line(line.rstrip("\n"))
        {'id': 'a', 'op': 'end_run'}
    """
    body = json.dumps({k: v for k, v in record.items() if k != "crc"}, ensure_ascii=False, separators=(",", ":"))
    crc = zlib.crc32(body.encode("utf-8"))
    return f'{_CRC_PREFIX}{crc:08x}",{body[1:]}\n'


def decode_line(text: str) -> dict[str, Any]:
    """The record of one journal line (without its newline), checksum verified.

    Raises:
        JournalError: the line is no JSON record (``corrupt: ...``), its checksum does not match (``checksum: ...``),
            or a version-2 record carries no checksum (``checksum: ...``).
    """
    head = _CRC_HEAD.match(text)
    if head is not None:
        body = "{" + text[head.end() :]
        record = _json_object(body)
        if zlib.crc32(body.encode("utf-8")) != int(head[1], 16):
            raise JournalError("checksum: the content does not match its CRC-32")
    else:
        record = _json_object(text)
        if record.get("v", 1) != 1:
            raise JournalError("checksum: a version-2 record without its checksum field")
    if not isinstance(record.get("id"), str) or not isinstance(record.get("op"), str):
        raise JournalError("corrupt: a JSON object without 'id' and 'op'")
    return record


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise JournalError(f"corrupt: not JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(value, dict):
        raise JournalError("corrupt: not a JSON object")
    return value


@dataclass(frozen=True)
class BadRecord:
    """A journal line that cannot be trusted, so it is not replayed.

    Attributes:
        path: the journal.
        line: 1-based line number.
        kind: ``torn`` (the last line, cut short while it was written: the call never returned), ``checksum``
            (content and checksum disagree) or ``corrupt`` (not a record).
        detail: what was wrong, e.g. ``not JSON (Expecting ',' delimiter at column 80)``.
        held: what the line still shows, e.g. ``run 20261127-125721-4b2b2b7e, op log_metrics, step 3 (16 metrics)``.
    """

    path: Path
    line: int
    kind: BadKind
    detail: str
    held: str

    def __str__(self) -> str:
        """``<file>:<line>: <kind> record (<detail>); it held <what>; not replayed``."""
        what = {"torn": "torn final record", "checksum": "record with a wrong checksum", "corrupt": "corrupt record"}
        return f"{self.path}:{self.line}: {what[self.kind]} ({self.detail}); it held {self.held}; not replayed"


@dataclass
class JournalContents:
    """What :func:`scan_journal` read from one journal.

    Attributes:
        records: the good records, in the order written (an id seen twice is kept once).
        bad: the lines that are not replayed, with why.
        lines: record id -> its 1-based line number.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    bad: list[BadRecord] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)


_FIELD = {name: re.compile(rf'"{name}":"([^"\\]*)"') for name in ("run_key", "op", "run_name", "status", "id")}
_METRIC_STEP = re.compile(r'",(?:-?[0-9.eE+-]+|NaN|-?Infinity),\d{12,},(-?\d+)\]')


def describe_line(text: str) -> str:
    """What a (possibly damaged) journal line still shows: run, op and, for metrics, steps and count.

    Example:
        >>> describe_line('{"crc":"00000000","op":"log_metrics","run_key":"r1","metrics":[["a",0.5,1795784241897,3]')
        'run r1, op log_metrics, step 3 (1 metric)'
    """
    found = {name: m[1] for name, pattern in _FIELD.items() if (m := pattern.search(text))}
    parts = [f"run {found.get('run_key', '?')}", f"op {found.get('op', '?')}"]
    steps = [int(s) for s in _METRIC_STEP.findall(text)]
    if steps:
        lo, hi = min(steps), max(steps)
        count = f"{len(steps)} metric{'s' if len(steps) != 1 else ''}"
        parts.append(f"step {lo} ({count})" if lo == hi else f"steps {lo}-{hi} ({count})")
    if "status" in found:
        parts.append(f"status {found['status']}")
    if "run_name" in found:
        parts.append(f"run name {found['run_name']}")
    if len(found) == 0 and not steps:
        return f"nothing readable ({len(text)} characters)"
    return ", ".join(parts)


def scan_journal(path: Path) -> JournalContents:
    """Read and verify every line of a journal.

    A good record is replayed; every other line becomes a :class:`BadRecord`. The last line without its newline is
    a torn record (the process ended while writing it, so the call never returned) unless it verifies completely,
    in which case only its newline was lost and it is kept.

    Args:
        path: the ``.jsonl`` journal.

    Returns:
        The good records and the bad lines.
    """
    contents = JournalContents()
    data = Path(path).read_bytes()
    lines = data.split(b"\n")
    last_complete = data.endswith(b"\n")
    if last_complete:
        lines.pop()  # the empty string after the final newline
    for number, raw in enumerate(lines, start=1):
        is_last = number == len(lines)
        text = raw.decode("utf-8", errors="replace")
        try:
            record = decode_line(text)
        except JournalError as err:
            kind, _, detail = str(err).partition(": ")
            if is_last and not last_complete:
                kind, detail = "torn", f"cut off after {len(raw)} bytes, no newline: {detail}"
            elif not text.strip():
                kind, detail = "corrupt", "empty line"
            contents.bad.append(BadRecord(Path(path), number, kind, detail, describe_line(text)))  # type: ignore[arg-type]
            continue
        if record["id"] in contents.lines:
            continue
        contents.lines[record["id"]] = number
        contents.records.append(record)
    return contents


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The good records of a journal, oldest first (see :func:`scan_journal` for the lines left out)."""
    return scan_journal(path).records


class Journal:
    """Append-only writer of one journal file: created ``0600`` (folder ``0700``) on the first append.

    Args:
        path: the ``.jsonl`` file to append to.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._lock: Any = None

    @property
    def artifacts_dir(self) -> Path:
        """Folder holding copies of logged artifacts until they are uploaded (``<journal>.artifacts``)."""
        return artifacts_dir_of(self.path)

    def lock(self) -> None:
        """Take the writer's lock (``<journal>.lock``) for as long as this process writes the journal.

        Raises:
            JournalError: another process holds it.
        """
        make_private_dir(self.path.parent)
        lock = _file_lock(self.path)
        if not _try_acquire(lock):
            raise JournalError(f"{self.path}: locked by another process")
        self._lock = lock

    def unlock(self) -> None:
        """Release the writer's lock (a crash releases it too: the OS drops it with the process)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def append(self, record: dict[str, Any]) -> None:
        """Write one record as one checksummed line, then fsync before returning.

        Args:
            record: a JSON-serialisable mapping; ``id`` and ``v`` are added when missing.
        """
        record.setdefault("id", new_record_id())
        record.setdefault("v", JOURNAL_VERSION)
        line = encode_record(record).encode("utf-8")
        if self._fd is None:
            make_private_dir(self.path.parent)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        written = os.write(self._fd, line)
        while written < len(line):  # a short write (signals, full pipes): finish the line
            written += os.write(self._fd, line[written:])
        os.fsync(self._fd)

    def close(self) -> None:
        """Close the file (appending again reopens it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) and make it ``0700`` (the owner only)."""
    path.mkdir(parents=True, exist_ok=True)
    if (path.stat().st_mode & 0o777) != DIR_MODE:
        os.chmod(path, DIR_MODE)


def _file_lock(journal: Path) -> Any:
    from filelock import FileLock

    return FileLock(str(lock_path_of(journal)), mode=FILE_MODE, thread_local=False)


def _try_acquire(lock: Any) -> bool:
    from filelock import Timeout

    try:
        lock.acquire(timeout=0)
    except Timeout:
        return False
    return True


class journal_lock:  # noqa: N801 - used like a function: ``with journal_lock(path) as free: ...``
    """Context manager taking ``<journal>.lock`` without waiting; yields whether it was free.

    ``False`` means a live process holds it: the experiment that writes the journal, or another ``yololab sync``.
    """

    def __init__(self, journal: Path) -> None:
        self._lock = _file_lock(journal)
        self._held = False

    def __enter__(self) -> bool:
        self._held = _try_acquire(self._lock)
        return self._held

    def __exit__(self, *exc: object) -> None:
        if self._held:
            self._lock.release()


def artifacts_dir_of(journal: Path) -> Path:
    """``<journal>.artifacts``: where a journal keeps its artifact copies."""
    return journal.with_name(journal.name + ".artifacts")


def state_path_of(journal: Path) -> Path:
    """``<journal>.state.json``: where the replay state of a journal is kept."""
    return journal.with_name(journal.name + ".state.json")


def lock_path_of(journal: Path) -> Path:
    """``<journal>.lock``: the lock held by the process writing the journal and by ``yololab sync``."""
    return journal.with_name(journal.name + ".lock")


def find_journals(directory: Path = DEFAULT_JOURNAL_DIR) -> list[Path]:
    """Every journal file in ``directory`` (not recursive), sorted by name, i.e. by creation time."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*" + JOURNAL_SUFFIX) if p.is_file())


@dataclass
class SyncState:
    """What has been replayed from one journal.

    Attributes:
        done: ids of the records already accepted by the server.
        runs: local run key -> server run id.
        experiments: local run key -> server experiment id.
        ended: local run key -> the status a run without ``end_run`` record was ended with at sync.
    """

    done: set[str] = field(default_factory=set)
    runs: dict[str, str] = field(default_factory=dict)
    experiments: dict[str, str] = field(default_factory=dict)
    ended: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, journal: Path) -> SyncState:
        """The saved state of ``journal``, or an empty state when it was never replayed.

        Raises:
            JournalError: the state file exists but is not a state (replaying without it could send records twice).
        """
        path = state_path_of(journal)
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            return cls(
                done=set(data.get("done", [])),
                runs=dict(data.get("runs", {})),
                experiments=dict(data.get("experiments", {})),
                ended=dict(data.get("ended", {})),
            )
        except (ValueError, TypeError) as err:
            raise JournalError(
                f"{path}: replay state unreadable ({err}); not replaying {journal.name}, so nothing is sent twice - "
                "move the state file away only if you accept duplicates"
            ) from None

    def save(self, journal: Path) -> None:
        """Write the state next to ``journal`` atomically (temp file ``0600``, fsync, rename)."""
        path = state_path_of(journal)
        data = {"v": JOURNAL_VERSION, "done": sorted(self.done), "runs": self.runs,
                "experiments": self.experiments, "ended": self.ended}  # fmt: skip
        fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=1)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def mark_done(self, ids: Iterable[str]) -> None:
        """Record that these record ids were accepted."""
        self.done.update(ids)

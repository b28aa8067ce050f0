"""Append-only local journal of MLflow calls that could not be sent, and the state of their replay.

A journal is one JSON-lines file per run (``<journal_dir>/<run_key>.jsonl``). Each line is one record, i.e. one
recorder call (or the part of it that was not sent), written with ``flush`` + ``os.fsync`` before the call returns,
so a crash loses at most the line being written (a torn last line is ignored when reading). Every record carries:

- ``id``: a unique record id (uuid4 hex), the unit of "already synced";
- ``v``: the format version (:data:`JOURNAL_VERSION`);
- ``op``: ``start_run``, ``log_params``, ``log_metrics``, ``set_tags``, ``log_artifact`` or ``end_run``;
- ``tracking_uri``, ``experiment_name``, ``experiment_type``, ``run_key`` (local key of the run) and
  ``server_run_id`` (the MLflow run id when the run already existed on the server, else ``null``);
- ``time_ms``: when the call was made; metrics carry their own explicit ``timestamp`` (ms) and ``step``, so a late
  replay stores exactly what a live call would have stored.

Artifacts that failed to upload are copied to ``<journal>.artifacts/<record id>/``. Floats are written with
Python's ``json`` (``NaN``, ``Infinity`` and ``-Infinity`` literals), which reads them back unchanged.

Replay state lives next to the journal in ``<journal>.state.json`` (ids of the records already sent and the mapping
from local run keys to server run ids), replaced atomically after every sent batch, so replaying a journal twice
sends nothing twice. This module is pure stdlib: it never imports MLflow.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

JOURNAL_VERSION = 1
"""Version written in every record's ``v`` field."""

DEFAULT_JOURNAL_DIR = Path(".yololab") / "journal"
"""Where recorders write journals and ``yololab sync`` looks for them, relative to the working directory."""

JOURNAL_SUFFIX = ".jsonl"


def new_record_id() -> str:
    """A fresh unique record id (32 hex digits)."""
    return uuid.uuid4().hex


class Journal:
    """Append-only writer of one journal file; the file is created on the first append.

    Args:
        path: the ``.jsonl`` file to append to.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @property
    def artifacts_dir(self) -> Path:
        """Folder holding copies of artifacts that could not be uploaded (``<journal>.artifacts``)."""
        return artifacts_dir_of(self.path)

    def append(self, record: dict[str, Any]) -> None:
        """Write one record as one line, then flush and fsync before returning.

        Args:
            record: a JSON-serialisable mapping; ``id`` and ``v`` are added when missing.
        """
        record.setdefault("id", new_record_id())
        record.setdefault("v", JOURNAL_VERSION)
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())


def artifacts_dir_of(journal: Path) -> Path:
    """``<journal>.artifacts``: where a journal keeps its artifact copies."""
    return journal.with_name(journal.name + ".artifacts")


def state_path_of(journal: Path) -> Path:
    """``<journal>.state.json``: where the replay state of a journal is kept."""
    return journal.with_name(journal.name + ".state.json")


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Read every complete record of a journal, in the order written.

    A last line without its newline (the process died while writing it) and lines that are not JSON objects are
    skipped: the recorder fsyncs each record before returning, so such a line was never acknowledged.

    Args:
        path: the ``.jsonl`` journal.

    Returns:
        The records, oldest first.
    """
    records: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and "id" in record and "op" in record:
                records.append(record)
    return records


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
        runs: local run key -> server run id, for runs created at replay time.
    """

    done: set[str] = field(default_factory=set)
    runs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, journal: Path) -> SyncState:
        """The saved state of ``journal``, or an empty state when it was never replayed."""
        path = state_path_of(journal)
        if not path.exists():
            return cls()
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(done=set(data.get("done", [])), runs=dict(data.get("runs", {})))

    def save(self, journal: Path) -> None:
        """Write the state next to ``journal`` atomically (temp file, fsync, rename)."""
        path = state_path_of(journal)
        data = {"v": JOURNAL_VERSION, "done": sorted(self.done), "runs": self.runs}
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

"""The sequences a tracking folder (``data.mot_dir``) holds: MOTChallenge sequences, frame folders and videos.

Accepted layouts, mixed freely inside one folder::

    MOT_DIR/<seq>/img1/000001.jpg ...     MOTChallenge: frames in img1/, optional gt/gt.txt and seqinfo.ini
    MOT_DIR/<seq>/000001.jpg ...          a folder of frames (no ground truth), in file-name order
    MOT_DIR/<name>.mp4                    a video (.mp4, .avi, .mov, .mkv, .webm, .m4v, .mpg, .mpeg; no ground truth)
    MOT_DIR/000001.jpg ...                MOT_DIR itself is one folder of frames

Only sequences with a non-empty ``gt/gt.txt`` can be scored (``mot.*``); the others are tracked and timed. Nothing
here decodes an image or a video.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from yololab.data.yolo_dataset import IMAGE_SUFFIXES
from yololab.metrics.mot.motchallenge import MOTDataWarning, read_seqinfo

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
"""Video file suffixes recognised in a tracking folder (lower case)."""

__all__ = ["VIDEO_SUFFIXES", "TrackingSource", "discover_sequences", "sequences_digest"]


@dataclass(frozen=True)
class TrackingSource:
    """One sequence to track.

    Attributes:
        name: the sequence name (folder name, or video file stem); tracker output is written as ``<name>.txt``.
        frames: image files in order (None for a video).
        video: the video file (None for frames).
        gt_file: ``gt/gt.txt`` when present and not empty.
        seq_length: ``seqLength`` of ``seqinfo.ini`` when present.
    """

    name: str
    frames: tuple[Path, ...] | None = None
    video: Path | None = None
    gt_file: Path | None = None
    seq_length: int | None = None

    @property
    def has_ground_truth(self) -> bool:
        """Whether the sequence can be scored."""
        return self.gt_file is not None


def _images_in(folder: Path) -> tuple[Path, ...]:
    return tuple(sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES))


def _mot_sequence(folder: Path) -> TrackingSource:
    frames = _images_in(folder / "img1")
    gt = folder / "gt" / "gt.txt"
    ini = folder / "seqinfo.ini"
    length = read_seqinfo(ini).seq_length if ini.is_file() else None
    if length is not None and length != len(frames):
        warnings.warn(
            f"{ini}: seqLength={length}, but {folder / 'img1'} holds {len(frames)} frames; {len(frames)} are tracked "
            f"and evaluation uses seqLength={length} (as TrackEval)",
            MOTDataWarning,
            stacklevel=3,
        )
    has_gt = gt.is_file() and gt.stat().st_size > 0
    return TrackingSource(folder.name, frames, None, gt if has_gt else None, length)


def discover_sequences(mot_dir: str | Path) -> list[TrackingSource]:
    """The sequences of a tracking folder, sorted by name (layouts above).

    Raises:
        FileNotFoundError: the folder does not exist or holds no sequence, frame folder or video.

    Warns:
        MOTDataWarning: a ``seqinfo.ini`` whose ``seqLength`` differs from the frames present (both numbers given).
    """
    root = Path(mot_dir).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"data.mot_dir {root}: not a folder")
    found: list[TrackingSource] = []
    for entry in sorted(root.iterdir()):
        if entry.is_dir() and (entry / "img1").is_dir():
            found.append(_mot_sequence(entry))
        elif entry.is_dir() and _images_in(entry):
            found.append(TrackingSource(entry.name, _images_in(entry)))
        elif entry.is_file() and entry.suffix.lower() in VIDEO_SUFFIXES:
            found.append(TrackingSource(entry.stem, video=entry))
    if not found and _images_in(root):
        found.append(TrackingSource(root.name, _images_in(root)))
    if not found:
        raise FileNotFoundError(
            f"data.mot_dir {root}: no sequences; expected <seq>/img1/ folders (MOTChallenge), folders of frames, "
            f"or videos ({', '.join(VIDEO_SUFFIXES)})"
        )
    names = [s.name for s in found]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FileNotFoundError(f"data.mot_dir {root}: two sequences named {duplicates[0]!r} (a folder and a video?)")
    return found


def sequences_digest(sources: Sequence[TrackingSource]) -> str:
    """A short fingerprint of tracking sequences (16 hex characters): equal for the same files, different otherwise.

    SHA-256 over each sequence's name, frame count, ground-truth file size and video file size (sizes, not bytes,
    as :meth:`~yololab.data.yolo_dataset.YoloDataset.digest`).
    """
    sha = hashlib.sha256()
    for s in sources:
        gt = s.gt_file.stat().st_size if s.gt_file is not None else -1
        video = s.video.stat().st_size if s.video is not None else -1
        sha.update(f"{s.name}\0{len(s.frames or ())}\0{gt}\0{video}\n".encode())
    return sha.hexdigest()[:16]

"""Settings of the synthetic world (:class:`SyntheticWorldConfig`).

Plain pydantic, no OpenCV, so that reading an experiment config never loads the renderer
(``yololab.data.synthetic``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CLASS_NAMES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "hexagon", "ring", "arrow")
"""Built-in object classes, in class-id order; a world with ``classes = k`` uses the first ``k``."""

MOT17_GT_CLASSES: tuple[int, ...] = (1, 2, 7, 8, 12)
"""Ground-truth class column of a ``protocol: MOT17`` world, by class id: class 0 is MOTChallenge's pedestrian (1),
the next ones its person-on-vehicle (2), static person (7), distractor (8) and reflection (12), cycling."""

MOT17_DISTRACTOR_CLASSES: tuple[int, ...] = MOT17_GT_CLASSES[1:]
"""Class written for a distractor in a ``protocol: MOT17`` world's gt.txt (by track id, cycling; conf 0)."""

__all__ = ["CLASS_NAMES", "MOT17_DISTRACTOR_CLASSES", "MOT17_GT_CLASSES", "SyntheticWorldConfig"]


class SyntheticWorldConfig(BaseModel):
    """Settings of a synthetic world; the defaults give 192 train and 80 val images of 160x160 in about a second.

    Ranges are ``(min, max)`` pairs, inclusive; sizes and speeds are in pixels (per frame for speeds).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = Field(0, description="Seed of every random draw; the same seed gives the same bytes.")
    sequences: int = Field(60, ge=2, description="Number of sequences (train and val together).")
    frames: int = Field(5, ge=1, description="Frames per training sequence (and per val sequence by default).")
    val_frames: int | None = Field(25, ge=1, description="Frames per val (tracking) sequence; None: same as frames.")
    classes: int = Field(5, ge=1, le=len(CLASS_NAMES), description=f"Number of classes, from {list(CLASS_NAMES)}.")
    size: tuple[int, int] = Field((160, 160), description="Image size (width, height) in pixels; 'WxH' accepted.")
    objects: tuple[int, int] = Field((2, 5), description="Target number of (labelled) objects in view.")
    distractors: tuple[int, int] = Field((0, 1), description="Target number of distractors in view.")
    object_size: tuple[int, int] = Field((18, 44), description="Side of an object's unrotated box, in pixels.")
    speed: tuple[float, float] = Field((0.5, 3.0), description="Object speed in pixels per frame.")
    val_fraction: float = Field(0.1, gt=0.0, lt=1.0, description="Fraction of the sequences used for validation.")
    label_min_visibility: float = Field(0.3, ge=0.0, le=1.0, description="Min visibility for a YOLO label.")
    noise_sigma: float = Field(6.0, ge=0.0, description="Per-pixel Gaussian sensor noise (grey levels).")
    image_format: Literal["jpg", "png"] = Field("jpg", description="Image file format.")
    jpeg_quality: int = Field(90, ge=1, le=100, description="JPEG quality (fixed, for reproducible bytes).")
    frame_rate: int = Field(30, ge=1, description="Frame rate written to seqinfo.ini.")
    protocol: Literal["synthetic", "MOT17"] = Field(
        "synthetic",
        description="synthetic: sequences SYNTH-xx, gt class = class id + 1, classes.txt beside them. MOT17: "
        "sequences MOT17-xx-SYNTH written the MOTChallenge way: class 0 is pedestrian (1), other classes are "
        "MOTChallenge's non-pedestrian classes 2, 7, 8, 12, and so are the distractors (listed in gt.txt with "
        "conf 0), rows below label_min_visibility zero-marked (conf 0).",
    )

    @field_validator("size", mode="before")
    @classmethod
    def _parse_size(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = value.lower().replace(" ", "").split("x")
            if len(parts) != 2 or not all(p.isdigit() for p in parts):
                raise ValueError(f"expected 'WIDTHxHEIGHT' such as '160x160', got {value!r}")
            return int(parts[0]), int(parts[1])
        if isinstance(value, int):
            return value, value
        return value

    @field_validator("size")
    @classmethod
    def _check_size(cls, value: tuple[int, int]) -> tuple[int, int]:
        if min(value) < 32:
            raise ValueError(f"expected width and height of at least 32 pixels, got {value[0]}x{value[1]}")
        return value

    @field_validator("objects", "distractors", "object_size", "speed")
    @classmethod
    def _check_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] < 0 or value[0] > value[1]:
            raise ValueError(f"expected (min, max) with 0 <= min <= max, got ({value[0]}, {value[1]})")
        return value

    @model_validator(mode="after")
    def _check_object_size(self) -> SyntheticWorldConfig:
        if self.object_size[0] < 4:
            raise ValueError(f"expected object_size with a minimum of at least 4 pixels, got {self.object_size[0]}")
        if self.object_size[1] > min(self.size) // 2:
            raise ValueError(
                f"expected object_size with a maximum of at most half the smaller image side ({min(self.size) // 2} "
                f"px), got {self.object_size[1]} px"
            )
        if self.objects[1] < 1:
            raise ValueError(f"expected objects with a maximum of at least 1, got {self.objects[1]}")
        return self

    @property
    def class_names(self) -> list[str]:
        """Names of the classes of this world, index = YOLO class id (0-based)."""
        return list(CLASS_NAMES[: self.classes])

    @property
    def num_val_sequences(self) -> int:
        """Number of validation sequences: ``round(sequences * val_fraction)``, at least 1, leaving 1 for training."""
        return min(self.sequences - 1, max(1, round(self.sequences * self.val_fraction)))

    @property
    def sequence_names(self) -> list[str]:
        """All sequence names, ``SYNTH-01`` ... (``MOT17-01-SYNTH`` ... under ``protocol: MOT17``), training first."""
        if self.protocol == "MOT17":
            return [f"MOT17-{i + 1:02d}-SYNTH" for i in range(self.sequences)]
        return [f"SYNTH-{i + 1:02d}" for i in range(self.sequences)]

    def gt_class_and_conf(self, class_id: int, visibility: float) -> tuple[int, int]:
        """The ``class`` and ``conf`` columns of an object's ``gt.txt`` row under this world's protocol.

        Example:
            >>> SyntheticWorldConfig().gt_class_and_conf(2, 0.1)
            (3, 1)
            >>> SyntheticWorldConfig(protocol="MOT17").gt_class_and_conf(2, 0.1)
            (7, 0)
        """
        if self.protocol == "MOT17":
            zero_marked = visibility < self.label_min_visibility
            return MOT17_GT_CLASSES[class_id % len(MOT17_GT_CLASSES)], 0 if zero_marked else 1
        return class_id + 1, 1

    def is_val_sequence(self, sequence_index: int) -> bool:
        """Whether sequence ``sequence_index`` (0-based) is on the val side (the last ones are)."""
        return sequence_index >= self.sequences - self.num_val_sequences

    def frames_in(self, sequence_index: int) -> int:
        """Number of frames of sequence ``sequence_index`` (0-based)."""
        if self.is_val_sequence(sequence_index) and self.val_frames is not None:
            return self.val_frames
        return self.frames

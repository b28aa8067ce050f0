"""The synthetic world: moving shapes rendered into a YOLO detection dataset and MOTChallenge-layout sequences.

Every user gets this data without downloading anything (SPEC §5). A *world* is a set of sequences seen by a static
camera: a noisy, textured background per sequence; objects of several classes (distinct shapes, each class with its
own hue band, varied size, brightness and texture) moving at constant-ish velocity, rotating, bouncing off the walls
or leaving the frame, new ones entering from the borders; occluding each other in depth order; and a few *distractors*
(ellipse, rectangle, pentagon) that look like the classes but are none of them.

Choices that matter downstream (also in ``docs/synthetic.md``):

* **Split by sequence.** The last ``round(sequences * val_fraction)`` sequences (at least one) are the validation side,
  the others the training side, so train and val images are never near-duplicate consecutive frames (the quantization
  experiment calibrates on train and scores on val). The MOTChallenge sequences are the val sequences only.
* **Boxes** are tight boxes of the rasterised mask of the *whole* object (amodal: an occluded part still counts), in
  pixel units where pixel ``i`` covers ``[i, i + 1)`` — the coordinates Ultralytics reports. ``gt.txt`` holds them
  unclipped (an object leaving the frame has ``x < 0``) with **no** MOTChallenge ``+1`` offset, so a tracker's
  Ultralytics boxes can be written as they are. YOLO labels hold the box clipped to the image, normalised.
* **Visibility** = visible pixels / all pixels of the object's mask, computed exactly from the masks: pixels covered
  by an object (or distractor) in front, or outside the image, are not visible.
* **YOLO labels** list the objects whose visibility is at least ``label_min_visibility`` (0.3 by default).
  **gt.txt** lists every object with at least one pixel inside the image (visibility may be 0 when fully occluded,
  as in MOT17), ``conf = 1``, ``class`` = 1-based class id (``class_names[class - 1]``).
* **Distractors** are negatives: absent from the YOLO labels and from ``gt.txt`` (a detection or track on one is a
  false positive). They are recorded in ``gt/distractors.txt`` (same columns, ``class = -1``, ``conf = 0``) for
  inspection only; MOT loaders read ``gt.txt`` and never see them. They do occlude objects.
* **Deterministic**: sequence ``i`` draws from ``numpy.random.SeedSequence([seed, i])``, JPEG at a fixed quality, so
  the same config gives the same bytes (the absolute paths in ``data.yaml`` aside).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from yololab.data.synthetic_config import CLASS_NAMES, MOT17_DISTRACTOR_CLASSES, SyntheticWorldConfig
from yololab.metrics.mot.motchallenge import CLASS_LIST_FILE, gt_line

MOT17_DISTRACTOR_ID_OFFSET = 100_000
"""Added to a distractor's id in a ``protocol: MOT17`` gt.txt: distractors count their ids separately."""

GENERATOR_VERSION = 3
"""Bumped whenever a change to the generator changes its output for the same config."""


DISTRACTOR_NAMES: tuple[str, ...] = ("ellipse", "rectangle", "pentagon")
"""Shapes resembling a class (circle, square, hexagon/circle) that are not one: never labelled.

A four-point "sparkle" was dropped in generator version 2: rotated, it is a cross, and it made the cross class
unlearnable in a short CPU training (AP50 0.20 against 0.81-0.95 for the other classes)."""

DISTRACTOR_CLASS = -1
"""Class written for distractors in ``gt/distractors.txt``."""

WORLD_FILE = "world.json"
_OWNED = ("images", "labels", "mot", "data.yaml", WORLD_FILE)


def _regular(n: int, radius: float = 1.0, phase_deg: float = -90.0) -> np.ndarray:
    angles = np.deg2rad(phase_deg + np.arange(n) * 360.0 / n)
    return np.stack([np.cos(angles), np.sin(angles)], axis=1) * radius


def _star(points: int, inner: float) -> np.ndarray:
    outer = _regular(points)
    inner_pts = _regular(points, inner, -90.0 + 180.0 / points)
    return np.stack([outer, inner_pts], axis=1).reshape(-1, 2)


def _unit_shapes() -> dict[str, list[tuple[np.ndarray, int]]]:
    """Each shape: polygons in unit coordinates (about [-1, 1]^2) with the value to fill (1, or 0 for a hole)."""
    arm = 0.34
    cross = np.array(
        [
            (-arm, -1),
            (arm, -1),
            (arm, -arm),
            (1, -arm),
            (1, arm),
            (arm, arm),
            (arm, 1),
            (-arm, 1),
            (-arm, arm),
            (-1, arm),
            (-1, -arm),
            (-arm, -arm),
        ]
    )
    arrow = np.array([(-1, -0.3), (0.15, -0.3), (0.15, -0.75), (1, 0), (0.15, 0.75), (0.15, 0.3), (-1, 0.3)])
    triangle = _regular(3) + np.array([0.0, 0.25])
    return {
        "circle": [(_regular(40), 1)],
        "square": [(np.array([(-1, -1), (1, -1), (1, 1), (-1, 1)], dtype=float) * 0.9, 1)],
        "triangle": [(triangle * 1.1, 1)],
        "star": [(_star(5, 0.45), 1)],
        "cross": [(cross, 1)],
        "hexagon": [(_regular(6, 1.0, 0.0), 1)],
        "ring": [(_regular(40), 1), (_regular(40, 0.55), 0)],
        "arrow": [(arrow, 1)],
        "ellipse": [(_regular(40) * np.array([1.0, 0.6]), 1)],
        "rectangle": [(np.array([(-1, -0.55), (1, -0.55), (1, 0.55), (-1, 0.55)], dtype=float), 1)],
        "pentagon": [(_regular(5), 1)],
    }


_SHAPES = _unit_shapes()
_SHIFT = 4  # cv2.fillPoly fractional bits: vertices at 1/16 px
_SCALE = 1 << _SHIFT
_NOISE_MARGIN = 64  # the noise field is this much larger than the image; each frame crops it at a random offset


@dataclass(frozen=True, slots=True)
class SyntheticObject:
    """One object (or distractor) as rendered in one frame.

    Attributes:
        track_id: Identity, 1-based, unique within a sequence (distractors count separately).
        class_id: 0-based class id, or :data:`DISTRACTOR_CLASS` for a distractor.
        box_xywh: Tight amodal box ``(x, y, w, h)`` in pixels (top-left corner; pixel ``i`` covers ``[i, i+1)``),
            not clipped to the image.
        visibility: Visible fraction of the object's mask, in [0, 1].
    """

    track_id: int
    class_id: int
    box_xywh: tuple[int, int, int, int]
    visibility: float

    @property
    def is_distractor(self) -> bool:
        """Whether this object is a distractor (never labelled)."""
        return self.class_id == DISTRACTOR_CLASS


@dataclass(frozen=True, slots=True)
class SyntheticFrame:
    """One rendered frame: the image (``(H, W, 3)`` uint8, BGR) and its objects with any pixel inside the image."""

    index: int
    image: np.ndarray
    objects: list[SyntheticObject]


@dataclass(frozen=True, slots=True)
class SyntheticWorld:
    """What :func:`generate_world` wrote.

    Attributes:
        root: The output folder.
        data_yaml: Ultralytics dataset file (absolute ``train``/``val`` paths).
        mot_dir: MOTChallenge-style benchmark folder: ``<seq>/img1``, ``<seq>/gt/gt.txt``, ``<seq>/seqinfo.ini``.
        seqmap: TrackEval seqmap file (``name`` header, one sequence a line) listing the MOT sequences.
        class_names: Class names, index = YOLO class id; MOT ``class`` column = index + 1.
        train_sequences: Sequences rendered into ``images/train``.
        val_sequences: Sequences rendered into ``images/val`` and ``mot_dir``.
        num_train_images: Images in the train split.
        num_val_images: Images in the val split.
        num_train_labels: Label lines (boxes) in the train split.
        num_val_labels: Label lines in the val split.
        num_gt_rows: Rows in all ``gt.txt`` files.
        num_tracks: Distinct identities in all ``gt.txt`` files.
        elapsed_s: Wall time of the generation in seconds (0 when reused).
    """

    root: Path
    data_yaml: Path
    mot_dir: Path
    seqmap: Path
    class_names: list[str]
    train_sequences: list[str]
    val_sequences: list[str]
    num_train_images: int
    num_val_images: int
    num_train_labels: int
    num_val_labels: int
    num_gt_rows: int
    num_tracks: int
    elapsed_s: float = 0.0

    @property
    def sequence_names(self) -> list[str]:
        """All sequence names, training ones first."""
        return [*self.train_sequences, *self.val_sequences]

    @property
    def num_frames(self) -> int:
        """Frames rendered (train and val)."""
        return self.num_train_images + self.num_val_images


@dataclass(slots=True)
class _Mover:
    track_id: int
    class_id: int
    shape: str
    cx: float
    cy: float
    vx: float
    vy: float
    size: float
    dsize: float
    angle: float
    spin: float
    depth: float
    bounce: bool
    texture: np.ndarray = field(repr=False)


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A static textured background (float32, ``(H, W, 3)``): a gradient, blotches and fine texture, low saturation."""
    hsv = np.zeros((2, 1, 3), np.uint8)
    hsv[:, 0, 0] = rng.integers(0, 180, 2)
    hsv[:, 0, 1] = rng.integers(0, 70, 2)
    hsv[:, 0, 2] = rng.integers(60, 200, 2)
    c0, c1 = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[:, 0].astype(np.float32)
    theta = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    t = (xs * np.cos(theta) + ys * np.sin(theta)) / float(math.hypot(width, height)) + 0.5
    bg = c0 + (c1 - c0) * t[..., None]
    coarse = rng.normal(0.0, 18.0, (4, 4, 3)).astype(np.float32)
    bg += cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    fine_cells = int(rng.integers(12, 40))
    fine = rng.normal(0.0, 9.0, (fine_cells, fine_cells, 1)).astype(np.float32)
    bg += cv2.resize(fine, (width, height), interpolation=cv2.INTER_LINEAR)[..., None]
    return bg


def _texture(rng: np.random.Generator, class_id: int, num_hues: int, side: int) -> np.ndarray:
    """An object's colour patch (uint8, ``(side, side, 3)``): its class hue (jittered) times a texture."""
    hue_class = class_id if class_id >= 0 else int(rng.integers(0, num_hues))
    hsv = np.array(
        [[[(hue_class * 180 // num_hues + rng.integers(-7, 8)) % 180, rng.integers(140, 256), rng.integers(140, 256)]]],
        np.uint8,
    )
    colour = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    kind = int(rng.integers(0, 4))
    if kind == 0:  # flat
        mod = np.zeros((side, side), np.float32)
    elif kind == 1:  # stripes
        phi = rng.uniform(0, np.pi)
        period = rng.uniform(4.0, 9.0)
        mod = 0.18 * np.sin(2 * np.pi * (xs * np.cos(phi) + ys * np.sin(phi)) / period)
    elif kind == 2:  # checker
        period = int(rng.integers(3, 7))
        mod = 0.15 * (((xs // period + ys // period) % 2) * 2 - 1)
    else:  # mottled
        cells = rng.normal(0.0, 0.15, (6, 6)).astype(np.float32)
        mod = cv2.resize(cells, (side, side), interpolation=cv2.INTER_LINEAR)
    patch = colour[None, None, :] * (1.0 + mod[..., None])
    return np.clip(patch, 0, 255).astype(np.uint8)


class _SequenceSimulator:
    """Moves and renders the objects of one sequence, frame by frame."""

    def __init__(self, config: SyntheticWorldConfig, sequence_index: int) -> None:
        self.cfg = config
        self.sequence_index = sequence_index
        self.rng = np.random.default_rng(np.random.SeedSequence([config.seed, sequence_index]))
        self.width, self.height = config.size
        self.background = _background(self.rng, self.width, self.height)
        self.texture_side = math.ceil(config.object_size[1] * 1.5) + 6
        self.noise: np.ndarray | None = None
        if config.noise_sigma > 0:  # drawn once per sequence, cropped per frame: 10x cheaper than fresh noise
            shape = (self.height + _NOISE_MARGIN, self.width + _NOISE_MARGIN)
            sigma = config.noise_sigma
            luma = self.rng.standard_normal((*shape, 1), dtype=np.float32) * sigma
            self.noise = luma + self.rng.standard_normal((*shape, 3), dtype=np.float32) * (sigma * 0.5)
        self.movers: list[_Mover] = []
        self.next_id = {False: 1, True: 1}  # per kind: distractor?
        self.target = {False: 0, True: 0}
        self._retarget()
        for distractor in (False, True):
            for _ in range(self.target[distractor]):
                self._spawn(distractor, inside=True)

    def _retarget(self) -> None:
        lo, hi = self.cfg.objects
        self.target[False] = int(self.rng.integers(lo, hi + 1))
        lo, hi = self.cfg.distractors
        self.target[True] = int(self.rng.integers(lo, hi + 1))

    def _spawn(self, distractor: bool, *, inside: bool) -> None:
        rng, cfg = self.rng, self.cfg
        size = float(rng.uniform(*cfg.object_size))
        speed = float(rng.uniform(*cfg.speed))
        if inside:
            cx = float(rng.uniform(0, self.width))
            cy = float(rng.uniform(0, self.height))
            heading = float(rng.uniform(0, 2 * np.pi))
        else:  # just outside a border, heading inwards
            side = int(rng.integers(0, 4))
            half = size * 0.75
            along = float(rng.uniform(0.1, 0.9))
            cx, cy, base = [
                (-half, along * self.height, 0.0),
                (self.width + half, along * self.height, np.pi),
                (along * self.width, -half, np.pi / 2),
                (along * self.width, self.height + half, -np.pi / 2),
            ][side]
            heading = base + float(rng.uniform(-1.0, 1.0))
        if distractor:
            shape = DISTRACTOR_NAMES[int(rng.integers(0, len(DISTRACTOR_NAMES)))]
            class_id = DISTRACTOR_CLASS
        else:
            class_id = int(rng.integers(0, cfg.classes))
            shape = CLASS_NAMES[class_id]
        self.movers.append(
            _Mover(
                track_id=self.next_id[distractor],
                class_id=class_id,
                shape=shape,
                cx=cx,
                cy=cy,
                vx=speed * math.cos(heading),
                vy=speed * math.sin(heading),
                size=size,
                dsize=float(rng.uniform(-0.004, 0.004)),
                angle=float(rng.uniform(0, 360)),
                spin=float(rng.uniform(-3.0, 3.0)),
                depth=float(rng.random()),
                bounce=bool(rng.random() < 0.4),
                texture=_texture(rng, class_id, cfg.classes, self.texture_side),
            )
        )
        self.next_id[distractor] += 1

    def _step(self) -> None:
        rng, lo, hi = self.rng, *self.cfg.object_size
        keep = []
        for m in self.movers:
            m.vx += float(rng.normal(0, 0.05))
            m.vy += float(rng.normal(0, 0.05))
            m.cx += m.vx
            m.cy += m.vy
            m.angle += m.spin
            m.size = min(max(m.size * (1.0 + m.dsize), lo), hi)
            half = m.size * 0.5
            if m.bounce:
                if (m.cx < half and m.vx < 0) or (m.cx > self.width - half and m.vx > 0):
                    m.vx = -m.vx
                if (m.cy < half and m.vy < 0) or (m.cy > self.height - half and m.vy > 0):
                    m.vy = -m.vy
            reach = m.size * 0.75
            outside = m.cx + reach < 0 or m.cx - reach > self.width or m.cy + reach < 0 or m.cy - reach > self.height
            if not outside:
                keep.append(m)
        self.movers = keep
        if rng.random() < 0.05:
            self._retarget()
        for distractor in (False, True):
            count = sum(1 for m in self.movers if (m.class_id == DISTRACTOR_CLASS) == distractor)
            if count < self.target[distractor] and rng.random() < 0.25:
                self._spawn(distractor, inside=False)

    def _rasterise(self, m: _Mover) -> tuple[np.ndarray, int, int]:
        """The object's mask (uint8 0/1) and the image coordinates of its top-left pixel."""
        rad = np.deg2rad(m.angle)
        rot = np.array([[np.cos(rad), -np.sin(rad)], [np.sin(rad), np.cos(rad)]])
        polys = [(pts @ rot.T * (m.size * 0.5) + (m.cx, m.cy), value) for pts, value in _SHAPES[m.shape]]
        allpts = np.concatenate([p for p, _ in polys])
        x0 = math.floor(allpts[:, 0].min()) - 1
        y0 = math.floor(allpts[:, 1].min()) - 1
        x1 = math.ceil(allpts[:, 0].max()) + 2
        y1 = math.ceil(allpts[:, 1].max()) + 2
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        for pts, value in polys:
            fixed = np.round((pts - (x0, y0)) * _SCALE).astype(np.int32)
            cv2.fillPoly(mask, [fixed], value, lineType=cv2.LINE_8, shift=_SHIFT)
        return mask, x0, y0

    def render(self, index: int) -> SyntheticFrame:
        """Render the current state as frame ``index`` (no motion step)."""
        w, h = self.width, self.height
        canvas = self.background.copy()
        occupied = np.zeros((h, w), bool)
        objects: list[SyntheticObject] = []
        for m in sorted(self.movers, key=lambda mv: mv.depth):  # front (small depth) first
            mask, x0, y0 = self._rasterise(m)
            total = int(mask.sum())
            if total == 0:
                continue
            rows = np.flatnonzero(mask.any(axis=1))
            cols = np.flatnonzero(mask.any(axis=0))
            box = (x0 + int(cols[0]), y0 + int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))
            fx0, fy0 = max(x0, 0), max(y0, 0)
            fx1, fy1 = min(x0 + mask.shape[1], w), min(y0 + mask.shape[0], h)
            if fx0 >= fx1 or fy0 >= fy1:
                continue
            sub = mask[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0].astype(bool)
            if not sub.any():
                continue
            free = sub & ~occupied[fy0:fy1, fx0:fx1]
            occupied[fy0:fy1, fx0:fx1] |= sub
            # texture anchored at the object's (rounded) centre so that it travels with the object
            tx = fx0 - (round(m.cx) - self.texture_side // 2)
            ty = fy0 - (round(m.cy) - self.texture_side // 2)
            tex = m.texture[ty : ty + (fy1 - fy0), tx : tx + (fx1 - fx0)]
            canvas[fy0:fy1, fx0:fx1][free] = tex[free]
            objects.append(SyntheticObject(m.track_id, m.class_id, box, int(free.sum()) / total))
        if self.noise is not None:  # sensor noise: a random crop of the sequence's noise field, random sign
            dx, dy = (int(v) for v in self.rng.integers(0, _NOISE_MARGIN, 2))
            sign = 1.0 if self.rng.random() < 0.5 else -1.0
            canvas += sign * self.noise[dy : dy + h, dx : dx + w]
        image = np.clip(canvas, 0, 255).astype(np.uint8)
        objects.sort(key=lambda o: (o.is_distractor, o.track_id))
        return SyntheticFrame(index=index, image=image, objects=objects)

    def frames(self) -> Iterator[SyntheticFrame]:
        for index in range(1, self.cfg.frames_in(self.sequence_index) + 1):
            if index > 1:
                self._step()
            yield self.render(index)


def iter_sequence(config: SyntheticWorldConfig, sequence_index: int) -> Iterator[SyntheticFrame]:
    """Render one sequence of a world in memory, frame by frame (frames numbered from 1).

    Args:
        config: The world's settings.
        sequence_index: 0-based index of the sequence (``config.sequence_names[sequence_index]``); each sequence
            draws from its own seed, so any one can be rendered alone.

    Yields:
        The frames, each with its image and objects (distractors included, flagged by ``class_id == -1``).

    Example:
        >>> frame = next(iter_sequence(SyntheticWorldConfig(frames=2), 0))
        >>> frame.image.shape, frame.index
        ((160, 160, 3), 1)
    """
    if not 0 <= sequence_index < config.sequences:
        raise IndexError(f"sequence_index must be in [0, {config.sequences}), got {sequence_index}")
    return _SequenceSimulator(config, sequence_index).frames()


def yolo_label_lines(frame: SyntheticFrame, config: SyntheticWorldConfig) -> list[str]:
    """YOLO label lines ``cls cx cy w h`` (normalised, box clipped to the image) of a frame's labelled objects.

    Labelled objects are the non-distractors with ``visibility >= config.label_min_visibility``.
    """
    w, h = config.size
    lines = []
    for obj in frame.objects:
        if obj.is_distractor or obj.visibility < config.label_min_visibility:
            continue
        x, y, bw, bh = obj.box_xywh
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + bw, w), min(y + bh, h)
        if x1 <= x0 or y1 <= y0:
            continue
        lines.append(
            f"{obj.class_id} {(x0 + x1) / 2 / w:.6f} {(y0 + y1) / 2 / h:.6f} {(x1 - x0) / w:.6f} {(y1 - y0) / h:.6f}"
        )
    return lines


def _mot_row(frame: int, obj: SyntheticObject, config: SyntheticWorldConfig) -> str:
    x, y, w, h = obj.box_xywh
    if obj.is_distractor:
        mot17 = config.protocol == "MOT17"
        cls = MOT17_DISTRACTOR_CLASSES[obj.track_id % len(MOT17_DISTRACTOR_CLASSES)] if mot17 else DISTRACTOR_CLASS
        conf = 0
        track_id = obj.track_id + MOT17_DISTRACTOR_ID_OFFSET if mot17 else obj.track_id
    else:
        track_id = obj.track_id
        cls, conf = config.gt_class_and_conf(obj.class_id, obj.visibility)
    return gt_line(frame, track_id, (x, y, w, h), conf, cls, obj.visibility)


def _encode(image: np.ndarray, config: SyntheticWorldConfig) -> bytes:
    if config.image_format == "jpg":
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality])
    else:
        ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # pragma: no cover - cv2 failure
        raise RuntimeError(f"OpenCV could not encode a {config.image_format} image")
    return buf.tobytes()


def _prepare_out_dir(root: Path, overwrite: bool) -> None:
    if root.exists() and any(root.iterdir()):
        if not overwrite and not (root / WORLD_FILE).exists():
            raise FileExistsError(
                f"{root} is not empty and holds no synthetic world ({WORLD_FILE}); pass overwrite=True or choose "
                "an empty folder"
            )
        for name in _OWNED:  # only what a world writes; never anything else in the folder
            path = root / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    root.mkdir(parents=True, exist_ok=True)


def generate_world(
    out_dir: str | Path, config: SyntheticWorldConfig | None = None, *, overwrite: bool = False
) -> SyntheticWorld:
    """Render a synthetic world into ``out_dir``: a YOLO detection dataset and MOTChallenge-layout sequences.

    Layout::

        out_dir/data.yaml                     Ultralytics dataset (absolute paths, names = class names)
        out_dir/images/{train,val}/SYNTH-01_000001.jpg
        out_dir/labels/{train,val}/SYNTH-01_000001.txt    "cls cx cy w h", normalised
        out_dir/mot/SYNTH-09/img1/000001.jpg  the val sequences, MOTChallenge layout
        out_dir/mot/SYNTH-09/gt/gt.txt        frame,id,x,y,w,h,conf,class,visibility
        out_dir/mot/SYNTH-09/gt/distractors.txt
        out_dir/mot/SYNTH-09/seqinfo.ini
        out_dir/mot/seqmap.txt                "name" then one sequence a line (TrackEval)
        out_dir/world.json                    config, generator version, class names, counts

    A folder that already holds a world is regenerated (only the paths above are removed first).

    Args:
        out_dir: Output folder (created).
        config: Settings; ``SyntheticWorldConfig()`` when omitted.
        overwrite: Also write into a non-empty folder that holds no world (only the paths above are replaced).

    Returns:
        Paths and counts of what was written.

    Raises:
        FileExistsError: ``out_dir`` is non-empty, holds no world, and ``overwrite`` is false.
    """
    config = config or SyntheticWorldConfig()
    start = time.perf_counter()
    root = Path(out_dir).expanduser().resolve()
    _prepare_out_dir(root, overwrite)
    n_val = config.num_val_sequences
    names = config.sequence_names
    train_names, val_names = names[: len(names) - n_val], names[len(names) - n_val :]
    ext = config.image_format
    mot_dir = root / "mot"
    counts = {"train_images": 0, "val_images": 0, "train_labels": 0, "val_labels": 0, "gt_rows": 0, "tracks": 0}
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
    for index, name in enumerate(names):
        split = "val" if config.is_val_sequence(index) else "train"
        gt_rows: list[str] = []
        distractor_rows: list[str] = []
        track_ids: set[int] = set()
        if split == "val":
            (mot_dir / name / "img1").mkdir(parents=True)
            (mot_dir / name / "gt").mkdir()
        for frame in iter_sequence(config, index):
            data = _encode(frame.image, config)
            stem = f"{name}_{frame.index:06d}"
            (root / "images" / split / f"{stem}.{ext}").write_bytes(data)
            lines = yolo_label_lines(frame, config)
            (root / "labels" / split / f"{stem}.txt").write_text("".join(f"{line}\n" for line in lines))
            counts[f"{split}_images"] += 1
            counts[f"{split}_labels"] += len(lines)
            if split == "val":
                (mot_dir / name / "img1" / f"{frame.index:06d}.{ext}").write_bytes(data)
                for obj in frame.objects:
                    in_gt = not obj.is_distractor or config.protocol == "MOT17"  # MOTChallenge lists distractors
                    (gt_rows if in_gt else distractor_rows).append(_mot_row(frame.index, obj, config))
                    if not obj.is_distractor:
                        track_ids.add(obj.track_id)
        if split == "val":
            (mot_dir / name / "gt" / "gt.txt").write_text("".join(gt_rows))
            (mot_dir / name / "gt" / "distractors.txt").write_text("".join(distractor_rows))
            (mot_dir / name / "seqinfo.ini").write_text(
                f"[Sequence]\nname={name}\nimDir=img1\nframeRate={config.frame_rate}\nseqLength={config.frames_in(index)}\n"
                f"imWidth={config.size[0]}\nimHeight={config.size[1]}\nimExt=.{ext}\n"
            )
            counts["gt_rows"] += len(gt_rows)
            counts["tracks"] += len(track_ids)
    mot_dir.mkdir(exist_ok=True)
    seqmap = mot_dir / "seqmap.txt"
    seqmap.write_text("name\n" + "".join(f"{n}\n" for n in val_names))
    if config.protocol == "synthetic":  # MOTChallenge sequences use MOTChallenge's classes instead
        (mot_dir / CLASS_LIST_FILE).write_text("".join(f"{n}\n" for n in config.class_names))
    data_yaml = root / "data.yaml"
    _write_data_yaml(data_yaml, root, config.class_names)
    world_info = {
        "generator_version": GENERATOR_VERSION,
        "config": config.model_dump(mode="json"),
        "class_names": config.class_names,
        "train_sequences": train_names,
        "val_sequences": val_names,
        "counts": counts,
    }
    (root / WORLD_FILE).write_text(json.dumps(world_info, indent=2) + "\n")
    return _world_from_info(root, world_info, elapsed_s=time.perf_counter() - start)


def _write_data_yaml(path: Path, root: Path, class_names: list[str]) -> None:
    import yaml

    content = {
        "path": str(root),
        "train": str(root / "images" / "train"),
        "val": str(root / "images" / "val"),
        "nc": len(class_names),
        "names": dict(enumerate(class_names)),
    }
    path.write_text(
        "# Synthetic world written by yololab (yololab.data.synthetic); see world.json for its settings.\n"
        + yaml.safe_dump(content, sort_keys=False)
    )


def _world_from_info(root: Path, info: dict[str, Any], elapsed_s: float = 0.0) -> SyntheticWorld:
    counts = info["counts"]
    return SyntheticWorld(
        root=root,
        data_yaml=root / "data.yaml",
        mot_dir=root / "mot",
        seqmap=root / "mot" / "seqmap.txt",
        class_names=list(info["class_names"]),
        train_sequences=list(info["train_sequences"]),
        val_sequences=list(info["val_sequences"]),
        num_train_images=counts["train_images"],
        num_val_images=counts["val_images"],
        num_train_labels=counts["train_labels"],
        num_val_labels=counts["val_labels"],
        num_gt_rows=counts["gt_rows"],
        num_tracks=counts["tracks"],
        elapsed_s=elapsed_s,
    )


def load_world(out_dir: str | Path) -> SyntheticWorld:
    """Describe a world written earlier by :func:`generate_world` (reads its ``world.json``).

    Raises:
        FileNotFoundError: No ``world.json`` in ``out_dir``.
    """
    root = Path(out_dir).expanduser().resolve()
    info_path = root / WORLD_FILE
    if not info_path.is_file():
        raise FileNotFoundError(f"no synthetic world in {root}: {WORLD_FILE} is missing")
    return _world_from_info(root, json.loads(info_path.read_text()))


def ensure_world(out_dir: str | Path, config: SyntheticWorldConfig | None = None) -> SyntheticWorld:
    """Reuse the world in ``out_dir`` if it was generated with the same config and generator version, else generate.

    The ``data.yaml`` is rewritten when the folder moved (its paths are absolute).
    """
    config = config or SyntheticWorldConfig()
    root = Path(out_dir).expanduser().resolve()
    info_path = root / WORLD_FILE
    if info_path.is_file():
        try:
            info = json.loads(info_path.read_text())
        except (OSError, ValueError):
            info = {}
        same = (
            info.get("generator_version") == GENERATOR_VERSION
            and info.get("config") == config.model_dump(mode="json")
            and (root / "images").is_dir()
            and (root / "mot" / "seqmap.txt").is_file()
        )
        if same:
            world = _world_from_info(root, info)
            _write_data_yaml(world.data_yaml, root, world.class_names)  # cheap; right even if the folder moved
            return world
    return generate_world(root, config, overwrite=False)


__all__ = [
    "CLASS_NAMES",
    "DISTRACTOR_CLASS",
    "DISTRACTOR_NAMES",
    "GENERATOR_VERSION",
    "SyntheticFrame",
    "SyntheticObject",
    "SyntheticWorld",
    "SyntheticWorldConfig",
    "ensure_world",
    "generate_world",
    "iter_sequence",
    "load_world",
    "yolo_label_lines",
]

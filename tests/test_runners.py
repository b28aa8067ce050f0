"""The three experiments end to end on tiny synthetic data, against a real ``mlflow server``.

Training is real (Ultralytics, 2 epochs from a model YAML at 64 px) and does not learn anything in that time:
these tests check that every key SPEC §1 lists is logged with the right steps, not the values' quality.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SPEC_DET = ("mAP50", "mAP50_95", "precision", "recall", "f1")
SPEC_LOSSES = ("box_loss", "cls_loss", "dfl_loss")
SPEC_MOT = ("mota", "motp", "idf1", "id_switches", "id_precision", "id_recall", "frag", "mt", "ml", "pt", "hota",
            "deta", "assa", "loca", "gt_tracks", "pred_tracks", "fp", "fn")  # fmt: skip
SPEC_SYS_LATENCY = ("inference_time_ms", "inference_time_p50_ms", "inference_time_p95_ms", "inference_time_p99_ms",
                    "fps", "throughput")  # fmt: skip
SPEC_SYS_CPU = ("cpu_utilization_pct", "cpu_memory_used_mb")
SPEC_SYS_MODEL = ("model_size_mb", "model_params_m", "model_flops_g")
SPEC_SYS_GPU = ("gpu_memory_used_mb", "gpu_utilization_pct", "gpu_power_watts", "gpu_temperature_c")
SPEC_COMPARISON = ("accuracy_drop_mAP50", "accuracy_drop_mAP50_95", "speedup_ratio", "compression_ratio")

TINY_WORLD = {
    "data.synthetic.sequences": 4,
    "data.synthetic.frames": 8,
    "data.synthetic.val_frames": 12,
    "data.synthetic.val_fraction": 0.25,
    "data.synthetic.classes": 3,
    "data.synthetic.size": "96x96",
    "data.synthetic.object_size": [12, 28],
}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, mlflow_server: Any) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("runners")
    return {
        "root": root,
        "common": {
            **TINY_WORLD,
            "experiment": "runner-tests",
            "tracking.uri": mlflow_server.uri,
            "tracking.journal_dir": str(root / "journal"),
            "output_dir": str(root / "runs"),
            "data.root": str(root / "world"),
            "imgsz": 64,
        },
        "client": _client(mlflow_server.uri),
    }


def _client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _config(kind: str, workspace: dict[str, Any], **overrides: Any) -> Any:
    from yololab.config import default_config_path, load_config

    return load_config(default_config_path(kind), {**workspace["common"], **overrides})


@pytest.fixture(scope="module")
def trained(workspace: dict[str, Any]) -> Any:
    from yololab.runners.train import TrainingRunner

    cfg = _config("train", workspace, **{"train.epochs": 2, "train.batch": 8, "run_name": "train-test"})
    return TrainingRunner(cfg, quiet=True).run()


def _class_keys(workspace: dict[str, Any], run_id: str) -> dict[str, str]:
    import json

    path = workspace["client"].download_artifacts(run_id, "class_keys.json", str(workspace["root"]))
    return json.loads(Path(path).read_text())


def test_training_logs_every_epoch_and_final_key(trained: Any, workspace: dict[str, Any]) -> None:
    client = workspace["client"]
    run = client.get_run(trained.run_id)
    assert run.info.status == "FINISHED"
    metrics = run.data.metrics
    per_epoch = [f"det.{k}" for k in SPEC_LOSSES] + [f"sys.{k}" for k in (*SPEC_SYS_CPU, "epoch_time_s")]
    per_epoch += [f"train.lr.pg{i}" for i in range(3)]
    for key in per_epoch:
        steps = [m.step for m in client.get_metric_history(trained.run_id, key)]
        assert sorted(steps) == [1, 2], f"{key}: steps {steps}"
    for key in (f"det.{k}" for k in SPEC_DET):  # each epoch, then the final evaluation of best.pt at its own step
        history = sorted(client.get_metric_history(trained.run_id, key), key=lambda m: m.step)
        assert [m.step for m in history] == [1, 2, 3], f"{key}: steps {[m.step for m in history]}"
        assert history[-1].value == pytest.approx(metrics[key]), f"{key}: the final value is the latest"
    assert metrics["det.mAP50"] == pytest.approx(trained.final.detection.mAP50)
    class_keys = _class_keys(workspace, trained.run_id)
    assert len(class_keys) == 3, "every class of the dataset gets a key"
    final = [f"sys.{k}" for k in SPEC_SYS_MODEL] + [f"det.ap.{k}" for k in trained.final.detection.per_class_ap]
    missing = [k for k in final if k not in metrics]
    assert not missing, f"final keys missing: {missing}"
    assert not [k for k in metrics if k.startswith("sys.gpu_")], "no GPU here: GPU keys must be absent"
    assert "yololab.unavailable.gpu" in run.data.tags
    assert run.data.tags["yololab.experiment_type"] == "train"
    artifacts = {a.path for a in client.list_artifacts(trained.run_id)}
    assert {"weights", "tables", "plots", "class_keys.json"} <= artifacts
    assert trained.best_weights is not None and trained.best_weights.exists()


def _infer(workspace: dict[str, Any], model: Path, run_name: str) -> Any:
    from yololab.runners.infer import InferenceBenchmarkRunner

    cfg = _config(
        "infer", workspace,
        **{"model": str(model), "run_name": run_name, "infer.warmup": 2, "infer.iterations": 10,
           "infer.batch_size": 2, "infer.tracking.enabled": True},
    )  # fmt: skip
    return InferenceBenchmarkRunner(cfg, quiet=True).run()


def _assert_inference_keys(workspace: dict[str, Any], run_id: str) -> None:
    run = workspace["client"].get_run(run_id)
    assert run.info.status == "FINISHED"
    metrics = run.data.metrics
    expected = (
        [f"det.{k}" for k in SPEC_DET]
        + [f"mot.{k}" for k in SPEC_MOT]
        + [f"sys.{k}" for k in (*SPEC_SYS_LATENCY, *SPEC_SYS_CPU, *SPEC_SYS_MODEL)]
    )
    missing = [k for k in expected if k not in metrics]
    assert not missing, f"missing keys: {missing}"
    assert not [k for k in metrics if k.startswith("sys.gpu_")]
    assert "yololab.unavailable.gpu" in run.data.tags
    assert run.data.tags["yololab.experiment_type"] == "infer"
    assert (
        metrics["sys.inference_time_p50_ms"]
        <= metrics["sys.inference_time_p95_ms"]
        <= metrics["sys.inference_time_p99_ms"]
    )
    artifacts = {a.path for a in workspace["client"].list_artifacts(run_id, "tables")}
    assert {"tables/mot_per_sequence.csv", "tables/mot_metrics.json"} <= artifacts


@pytest.fixture(scope="module")
def infer_pt(trained: Any, workspace: dict[str, Any]) -> Any:
    return _infer(workspace, trained.best_weights, "infer-pt")


@pytest.fixture(scope="module")
def quant_run(trained: Any, workspace: dict[str, Any]) -> Any:
    from yololab.runners.quant import QuantizationRunner

    cfg = _config(
        "quant", workspace,
        **{"model": str(trained.best_weights), "run_name": "quant-test", "quant.calibration_size": 8,
           "infer.warmup": 2, "infer.iterations": 10, "quant.gates.max_accuracy_drop": 1.0},
    )  # fmt: skip
    return QuantizationRunner(cfg, quiet=True).run()


def test_inference_with_tracking_pt(infer_pt: Any, workspace: dict[str, Any]) -> None:
    _assert_inference_keys(workspace, infer_pt.run_id)


def test_the_console_script_ends_an_experiment_with_everything_sent(
    trained: Any, workspace: dict[str, Any], tmp_path: Path
) -> None:
    """``python -m yololab infer`` as users run it: MLflow through the helper process, and the process ending without
    the interpreter's teardown (:func:`yololab.cli.skip_teardown`) - exit 0 with the run complete and the output
    whole."""
    from yololab.adapters import mlflow_process

    overrides = {
        **workspace["common"], "output_dir": str(tmp_path / "runs"), "run_name": "infer-console-script",
        "infer.warmup": 2, "infer.iterations": 10, "infer.batch_size": 2, "infer.tracking.enabled": True,
    }  # fmt: skip
    sets = [a for k, v in overrides.items() for a in ("--set", f"{k}={v}")]
    env = {k: v for k, v in os.environ.items() if k != mlflow_process.ENV_SWITCH}  # the helper, as for a user
    done = subprocess.run(
        [sys.executable, "-m", "yololab", "infer", "--model", str(trained.best_weights), *sets],
        capture_output=True, text=True, env={**env, "COLUMNS": "120"}, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    run_id = next(line.split()[-1] for line in done.stderr.splitlines() if line.startswith("run id"))
    _assert_inference_keys(workspace, run_id)
    assert done.stdout.rstrip().splitlines()[-1].startswith(f"run {run_id}: mAP50 ")
    last = done.stderr.rstrip().splitlines()[-1].split()  # the footer's last line came out
    assert last == ["open", workspace["common"]["tracking.uri"].rstrip("/")]


def test_inference_with_tracking_onnx(trained: Any, workspace: dict[str, Any], tmp_path: Path) -> None:
    from yololab.adapters.quantization import export_onnx_fp32

    onnx_path = export_onnx_fp32(trained.best_weights, tmp_path, imgsz=64, batch=2)
    result = _infer(workspace, onnx_path, "infer-onnx")
    _assert_inference_keys(workspace, result.run_id)
    run = workspace["client"].get_run(result.run_id)
    assert run.data.tags["yololab.execution_provider"] == "CPUExecutionProvider"


def test_detection_metrics_equal_ultralytics_validator(trained: Any, workspace: dict[str, Any], tmp_path: Path) -> None:
    """det.* are the numbers Ultralytics' own validator gives for the same model and data (rect=False)."""
    from ultralytics import YOLO

    from yololab.adapters.ultralytics_model import validate_model

    data_yaml = Path(workspace["common"]["data.root"]) / "data.yaml"
    ours = validate_model(trained.best_weights, data_yaml, imgsz=64)
    ref = YOLO(str(trained.best_weights)).val(
        data=str(data_yaml), imgsz=64, rect=False, plots=False, batch=1, project=str(tmp_path / "ref")
    )
    assert ours.mAP50 == pytest.approx(float(ref.box.map50), abs=1e-12)
    assert ours.mAP50_95 == pytest.approx(float(ref.box.map), abs=1e-12)
    assert ours.precision == pytest.approx(float(ref.box.mp), abs=1e-12)
    assert ours.recall == pytest.approx(float(ref.box.mr), abs=1e-12)


def test_validation_leaves_nothing_in_the_users_folders(
    trained: Any, workspace: dict[str, Any], tmp_path: Path
) -> None:
    """Outside pytest, Ultralytics' validator makes a new ``runs/detect/val-N`` under its settings' ``runs_dir`` (the
    git root of the folder Ultralytics is installed in, else the working folder) at every call; yololab's validation
    leaves nothing there, nor in the working folder."""
    data_yaml = Path(workspace["common"]["data.root"]) / "data.yaml"
    cwd, runs_dir = tmp_path / "cwd", tmp_path / "runs"
    cwd.mkdir()
    code = (
        "import sys; from yololab.adapters.ultralytics_env import prepare_ultralytics_offline; "
        "prepare_ultralytics_offline(); from ultralytics.utils import SETTINGS; SETTINGS.update(runs_dir=sys.argv[3]); "
        "from yololab.adapters.ultralytics_model import validate_model; "
        "print(validate_model(sys.argv[1], sys.argv[2], imgsz=64).mAP50)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}  # Ultralytics' own paths, not pytest's
    env["YOLO_CONFIG_DIR"] = str(tmp_path / "config")  # its own settings file
    done = subprocess.run(
        [sys.executable, "-c", code, str(trained.best_weights), str(data_yaml), str(runs_dir)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert 0.0 <= float(done.stdout.split()[-1]) <= 1.0
    assert not runs_dir.exists()
    assert list(cwd.iterdir()) == []


def test_quantization_logs_every_key(quant_run: Any, workspace: dict[str, Any]) -> None:
    result = quant_run
    run = workspace["client"].get_run(result.run_id)
    metrics = run.data.metrics
    expected = [f"comparison.{k}" for k in SPEC_COMPARISON]
    for side in ("original", "quantized"):
        expected += [f"det.{side}.{k}" for k in SPEC_DET]
        latency = [k for k in SPEC_SYS_LATENCY if k != "throughput"]
        expected += [f"sys.{side}.{k}" for k in (*latency, *SPEC_SYS_MODEL, *SPEC_SYS_CPU)]
        # both sides are ONNX exports fixed to batch 1: throughput at batch 8 is not measured, and says why
        assert f"sys.{side}.throughput" not in metrics
        assert "fixed to batch 1" in run.data.tags[f"yololab.unavailable.{side}.sys.throughput"]
    missing = [k for k in expected if k not in metrics]
    assert not missing, f"missing keys: {missing}"
    assert run.data.tags["yololab.gates"] == "passed"
    assert 2.0 < metrics["comparison.compression_ratio"] < 5.0
    assert {a.path for a in workspace["client"].list_artifacts(result.run_id)} >= {"model", "plots"}


def test_report_has_every_section(
    trained: Any, infer_pt: Any, quant_run: Any, workspace: dict[str, Any], tmp_path: Path
) -> None:
    from yololab.adapters.mlflow_reader import find_run_ids, load_runs
    from yololab.report.compare import SECTIONS, render_html

    ids = find_run_ids(experiment="runner-tests", tracking_uri=workspace["common"]["tracking.uri"])
    runs = load_runs(ids, tracking_uri=workspace["common"]["tracking.uri"])
    assert {r.experiment_type for r in runs} >= {"train", "infer", "quant"}
    page = render_html(runs)
    for section in SECTIONS:
        start = page.index(f'<section id="{section}">')
        body = page[start : page.index("</section>", start)]
        assert "<img" in body or section == "summary", f"section {section} has no figure"
        assert 'class="none"' not in body, f"section {section} says it has no data"
    assert 'src="http' not in page and "<link" not in page, "the report must be self-contained"


def test_ctrl_c_ends_the_run_killed_and_keeps_the_weights(
    workspace: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A KeyboardInterrupt during training (here raised at the end of epoch 1) ends the run KILLED, with the
    epoch already logged and the weights written so far logged as artifacts."""
    from yololab.runners import train as train_module

    original = train_module._EpochLogger._on_fit_epoch_end

    def interrupt_after_logging(self: Any, trainer: Any) -> None:
        original(self, trainer)
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module._EpochLogger, "_on_fit_epoch_end", interrupt_after_logging)
    cfg = _config("train", workspace, **{"train.epochs": 3, "train.batch": 8, "run_name": "train-killed",
                                          "output_dir": str(workspace["root"] / "killed")})  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        train_module.TrainingRunner(cfg, quiet=True).run()
    client = workspace["client"]
    runs = client.search_runs(
        [client.get_experiment_by_name("runner-tests").experiment_id], "attributes.run_name = 'train-killed'"
    )
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "KILLED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "det.mAP50")] == [1]
    weights = {a.path for a in client.list_artifacts(run.info.run_id, "weights")}
    assert "weights/last.pt" in weights
    assert (workspace["root"] / "killed" / "train" / "weights" / "last.pt").exists()


def test_demo_chain_logs_three_runs(workspace: dict[str, Any], mlflow_server: Any) -> None:
    """``yololab demo``'s chain (train -> infer + track -> quant) on the tiny world: three finished runs."""
    from yololab.runners.demo import run_demo

    tiny = {k: v for k, v in workspace["common"].items() if k.startswith("data.synthetic") or k == "imgsz"}
    per_kind = {
        "train": {**tiny, "train.epochs": 1, "train.batch": 8},
        "infer": {**tiny, "infer.warmup": 1, "infer.iterations": 5, "infer.batch_size": 2},
        "quant": {**tiny, "infer.warmup": 1, "infer.iterations": 5, "quant.calibration_size": 4,
                  "quant.gates.max_accuracy_drop": None},
    }  # fmt: skip
    result = run_demo(
        workspace["root"] / "demo",
        experiment="demo-test",
        tracking_uri=mlflow_server.uri,
        overrides=per_kind,
        quiet=True,
    )
    client = workspace["client"]
    types = {client.get_run(run_id).data.tags["yololab.experiment_type"] for run_id in result.run_ids.values()}
    assert types == {"train", "infer", "quant"}
    assert all(client.get_run(run_id).info.status == "FINISHED" for run_id in result.run_ids.values())
    parents = {client.get_run(run_id).data.tags["mlflow.parentRunId"] for run_id in result.run_ids.values()}
    assert parents == {result.parent_run_id}, "the three runs are nested under the demo's run"
    parent = client.get_run(result.parent_run_id)
    assert parent.info.status == "FINISHED" and parent.data.tags["mlflow.note.content"].startswith("yololab demo:")
    experiment = client.get_experiment(parent.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development", "opens in model-training mode"
    contexts = {"train": {"training", "validation"}, "infer": {"evaluation", "tracking"},
                "quant": {"calibration", "evaluation"}}  # fmt: skip
    for kind, run_id in result.run_ids.items():
        run = client.get_run(run_id)
        assert run.data.tags.get("mlflow.note.content"), f"{kind}: a description"
        assert run.data.tags["mlflow.source.name"] == f"yololab {kind}", f"{kind}: the UI's Source column"
        assert "config.yaml" in {a.path for a in client.list_artifacts(run_id)}, f"{kind}: the config as an artifact"
        inputs = run.inputs.dataset_inputs
        used = {tag.value for d in inputs for tag in d.tags if tag.key == "mlflow.data.context"}
        assert used == contexts[kind], f"{kind}: dataset inputs {used}"
        assert all(len(d.dataset.digest) == 16 and d.dataset.source_type == "local" for d in inputs)
        if kind != "train":
            assert run.data.tags["yololab.source_run_id"] == result.run_ids["train"], f"lineage: {kind}"
    # the final evaluation of best.pt has its own step after the last epoch: one value per step, no doubling back
    steps = [m.step for m in client.get_metric_history(result.run_ids["train"], "det.mAP50")]
    assert sorted(steps) == [1, 2]
    lr_steps = [m.step for m in client.get_metric_history(result.run_ids["train"], "train.lr.pg0")]
    assert lr_steps == [1], "the learning rates are logged per epoch"


def test_compare_cli_prints_the_runs_side_by_side_and_writes_the_report(
    trained: Any, infer_pt: Any, quant_run: Any, workspace: dict[str, Any], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from yololab.cli import app

    uri = workspace["common"]["tracking.uri"]
    report = tmp_path / "report.html"
    result = CliRunner().invoke(
        app, ["compare", "--experiment", "runner-tests", "--tracking-uri", uri, "--output", str(report)],
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "det.mAP50" in result.output and "Δ last-first" in result.output
    assert report.read_text(encoding="utf-8").startswith("<!doctype html>")
    missing = CliRunner().invoke(app, ["compare", "--experiment", "no-such-experiment", "--tracking-uri", uri])
    assert missing.exit_code == 2
    assert "no MLflow experiment named 'no-such-experiment'" in missing.output


def test_quant_cli_exits_3_and_tags_the_run_when_a_gate_is_missed(
    trained: Any, workspace: dict[str, Any], tmp_path: Path
) -> None:
    import yaml
    from typer.testing import CliRunner

    from yololab.cli import app

    config = tmp_path / "quant.yaml"
    config.write_text(yaml.safe_dump({"kind": "quant", "model": str(trained.best_weights)}))
    sets = {**workspace["common"], "run_name": "quant-gated", "quant.calibration_size": 4, "infer.warmup": 1,
            "infer.iterations": 5, "quant.gates.min_speedup": 1000.0}  # fmt: skip
    args = ["quant", str(config)] + [a for k, v in sets.items() for a in ("--set", f"{k}={yaml.safe_dump(v).strip()}")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 3, result.output
    assert "quality gates missed: speedup_ratio" in result.output
    client = workspace["client"]
    run = client.search_runs(
        [client.get_experiment_by_name("runner-tests").experiment_id], "attributes.run_name = 'quant-gated'"
    )[0]
    assert run.info.status == "FINISHED"
    assert run.data.tags["yololab.gates"] == "failed"
    assert "min_speedup 1000.0" in run.data.tags["yololab.gates.failed"]


def test_compare_at_80_columns_prints_every_key_whole(
    trained: Any, infer_pt: Any, quant_run: Any, workspace: dict[str, Any]
) -> None:
    from typer.testing import CliRunner

    from yololab.cli import app

    ids = [trained.run_id, infer_pt.run_id, quant_run.run_id]
    result = CliRunner().invoke(
        app, ["compare", *ids, "--tracking-uri", workspace["common"]["tracking.uri"]], env={"COLUMNS": "80"}
    )
    assert result.exit_code == 0, result.output
    labels = [line.split("│")[1].strip() for line in result.output.splitlines() if line.startswith("│")]
    labels = [label for label in labels if label]
    assert len(labels) > 10 and "…" not in "".join(labels), labels
    assert len(labels) == len(set(labels)), "no two rows print the same label"
    assert "det.mAP50" in labels and "sys.model_size_mb" in labels, labels
    assert not [k for k in labels if k.startswith("comparison.")], "measured by one run only: shown with --all"


def _chromium() -> str:
    """Debian's chromium (``.ci/run`` installs it); outside CI a missing browser skips, in CI it fails."""
    import os
    import shutil

    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


def test_html_report_renders_in_a_real_browser(
    trained: Any, infer_pt: Any, quant_run: Any, workspace: dict[str, Any], tmp_path: Path
) -> None:
    pytest.importorskip("playwright", reason="playwright is in the dev extra")
    from playwright.sync_api import sync_playwright

    from yololab.adapters.mlflow_reader import load_runs
    from yololab.report.compare import SECTIONS, render_html

    runs = load_runs(
        [trained.run_id, infer_pt.run_id, quant_run.run_id], tracking_uri=workspace["common"]["tracking.uri"]
    )
    page_file = tmp_path / "report.html"
    page_file.write_text(render_html(runs), encoding="utf-8")
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(page_file.as_uri())
        page.wait_for_load_state("load")
        images = page.evaluate("Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])")
        sections = page.evaluate("Array.from(document.querySelectorAll('section')).map(s => s.id)")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert len(images) >= 5, images
    assert all(complete and width > 0 for _, complete, width in images), f"images that did not decode: {images}"
    assert sections == list(SECTIONS)
    assert not errors, errors
    assert (tmp_path / "report.png").stat().st_size > 10_000

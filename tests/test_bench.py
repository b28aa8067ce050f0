"""``yololab bench``: a model trained for one epoch, swept over five formats and one impossible here (TensorRT on a
CPU), against a real ``mlflow server``: a parent run and one child run per format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TINY = {
    "data.synthetic.sequences": 4,
    "data.synthetic.frames": 8,
    "data.synthetic.val_frames": 6,
    "data.synthetic.val_fraction": 0.25,
    "data.synthetic.classes": 3,
    "data.synthetic.size": "96x96",
    "data.synthetic.object_size": [12, 28],
    "imgsz": 64,
}
FORMATS = ["torch", "onnx", "openvino", "openvino-int8", "onnx-int8-static"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory, mlflow_server: Any) -> dict[str, Any]:
    pytest.importorskip("openvino", reason="the [openvino] extra is part of the test extras (make test installs it)")
    from mlflow.tracking import MlflowClient

    from yololab.config import default_config_path, load_config
    from yololab.runners.bench import FormatSweepRunner
    from yololab.runners.train import TrainingRunner

    root = tmp_path_factory.mktemp("bench")
    common = {**TINY, "experiment": "bench-tests", "tracking.uri": mlflow_server.uri,
              "tracking.journal_dir": str(root / "journal"), "data.root": str(root / "world"),
              "output_dir": str(root / "runs")}  # fmt: skip
    train = load_config(default_config_path("train"), {**common, "train.epochs": 1, "train.batch": 8})
    weights = TrainingRunner(train, quiet=True).run().best_weights
    config = load_config(
        default_config_path("bench"),
        {**common, "model": str(weights), "run_name": "sweep", "bench.formats": [*FORMATS, "tensorrt-fp16"],
         "bench.calibration_size": 8, "infer.warmup": 2, "infer.iterations": 6, "infer.batch_size": 2,
         "bench.gates.max_accuracy_drop": 1.0},
    )  # fmt: skip
    from ultralytics import YOLO

    loads: list[str] = []  # every model the sweep loads (a spy on the real constructor: it still loads)
    real_init = YOLO.__init__

    def counting_init(self: Any, model: Any = "yolo11n.pt", *args: Any, **kwargs: Any) -> None:
        loads.append(str(Path(str(model)).resolve()))
        real_init(self, model, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(YOLO, "__init__", counting_init)
        result = FormatSweepRunner(config, quiet=True).run()
    return {"result": result, "client": MlflowClient(tracking_uri=mlflow_server.uri), "loads": loads}


def test_parent_and_one_child_per_format(sweep: dict[str, Any]) -> None:
    client, result = sweep["client"], sweep["result"]
    parent = client.get_run(result.run_id)
    assert parent.info.status == "FINISHED"
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{result.run_id}'", max_results=50
    )
    by_format = {r.data.tags["yololab.format"]: r for r in children}
    assert sorted(by_format) == sorted([*FORMATS, "tensorrt-fp16"])
    for name in FORMATS:
        run = by_format[name]
        assert run.info.status == "FINISHED", name
        keys = set(run.data.metrics)
        for key in ("det.mAP50", "det.mAP50_95", "sys.inference_time_ms", "sys.inference_time_p95_ms", "sys.fps",
                    "sys.model_size_mb", "comparison.accuracy_drop_mAP50", "comparison.speedup_ratio",
                    "comparison.compression_ratio"):  # fmt: skip
            assert key in keys, f"{name}: {key} missing"
    assert by_format["torch"].data.metrics["comparison.speedup_ratio"] == pytest.approx(1.0)
    assert by_format["openvino-int8"].data.tags["yololab.precision"] == "int8"
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "tables")}
    assert "tables/formats.csv" in artifacts
    assert {a.path for a in client.list_artifacts(result.run_id, "plots")} >= {"plots/formats.png"}


def test_impossible_format_is_a_failed_child_with_the_reason(sweep: dict[str, Any]) -> None:
    client, result = sweep["client"], sweep["result"]
    run = client.get_run(result.formats["tensorrt-fp16"].run_id)
    assert run.info.status == "FAILED"
    assert (
        "NVIDIA GPU" in run.data.tags["yololab.failure_reason"] or "TensorRT" in run.data.tags["yololab.failure_reason"]
    )
    assert not run.data.metrics, "nothing measured for a format that could not be produced"
    assert "tensorrt-fp16" in client.get_run(result.run_id).data.tags["yololab.bench.failed_formats"]


def test_recommendation_is_the_fastest_format_passing_the_gates(sweep: dict[str, Any]) -> None:
    result = sweep["result"]
    measured = {n: o for n, o in result.formats.items() if o.failure is None and not o.failed_gates}
    fastest = min(measured, key=lambda n: measured[n].system.inference_time_ms)
    assert result.recommended == fastest
    parent = sweep["client"].get_run(result.run_id)
    assert parent.data.tags["yololab.bench.recommended"] == fastest


def test_each_format_exported_once(sweep: dict[str, Any]) -> None:
    folder = Path(sweep["result"].formats["onnx"].artifact).parent
    onnx_files = sorted(p.name for p in folder.glob("*.onnx"))
    assert onnx_files == ["best_fp32.onnx", "best_int8_static.onnx"], onnx_files
    assert sweep["result"].formats["onnx-int8-static"].artifact.name == "best_int8_static.onnx"
    fp32 = folder / "best_fp32.onnx"
    later = [o.artifact for n, o in sweep["result"].formats.items() if n in ("openvino", "openvino-int8")]
    assert all(Path(p).stat().st_mtime >= fp32.stat().st_mtime for p in later), "the FP32 ONNX was not re-exported"


def test_each_model_loaded_once(sweep: dict[str, Any]) -> None:
    """The model check, the validation and the timed loop share one loaded model per format (exports aside)."""
    for name, outcome in sweep["result"].formats.items():
        if outcome.failure is None:
            path = str(Path(outcome.artifact).resolve())
            assert sweep["loads"].count(path) == 1, f"{name}: {path} loaded {sweep['loads'].count(path)} times"


def test_compare_report_shows_the_sweep(sweep: dict[str, Any], mlflow_server: Any) -> None:
    from yololab.adapters.mlflow_reader import load_runs
    from yololab.report.compare import render_html

    page = render_html(load_runs([sweep["result"].run_id], tracking_uri=mlflow_server.uri))
    start = page.index('<section id="formats">')
    body = page[start : page.index("</section>", start)]
    assert "<img" in body and "openvino-int8" in body and f"recommended: {sweep['result'].recommended}" in body

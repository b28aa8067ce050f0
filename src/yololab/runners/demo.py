"""``yololab demo``: synthetic world -> training -> inference benchmark with tracking -> quantization.

Three MLflow runs in one experiment of the local store (or ``MLFLOW_TRACKING_URI``), with the packaged default
configs; ends with a summary table and the command that opens the MLflow UI on them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from yololab.config import default_config_path, load_config

console = Console(stderr=True)


@dataclass
class DemoResult:
    """The three runs the demo logged, and how long each step took (s)."""

    run_ids: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    headline: dict[str, dict[str, float | None]] = field(default_factory=dict)
    tracking_uri: str = ""
    gates_passed: bool = True
    parent_run_id: str = ""


def _config(
    kind: str, workdir: Path, experiment: str, tracking_uri: str | None, extra: dict[str, Any], parent_run_id: str
) -> Any:
    overrides: dict[str, Any] = {
        "experiment": experiment,
        "output_dir": str(workdir / "runs"),
        "data.root": str(workdir / "data"),
        **extra,
    }
    if tracking_uri is not None:
        overrides["tracking.uri"] = tracking_uri
    config = load_config(default_config_path(kind), overrides)
    config.tags = {**config.tags, "mlflow.parentRunId": parent_run_id}  # nested under the demo's run in the UI
    return config


def _timed(result: DemoResult, kind: str, run: Callable[[], Any]) -> Any:
    """Run one experiment, recording its wall time and run id in ``result``."""
    start = time.perf_counter()
    outcome = run()
    result.seconds[kind] = time.perf_counter() - start
    result.run_ids[kind] = outcome.run_id
    return outcome


def run_demo(
    workdir: Path = Path("yololab-demo"),
    *,
    experiment: str = "yololab-demo",
    tracking_uri: str | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    quiet: bool = False,
) -> DemoResult:
    """Run the three experiments as children of one demo run; ``overrides[kind]`` adds dotted overrides per kind."""
    from yololab.adapters.mlflow_params import redact_value, resolve_tracking_uri
    from yololab.adapters.mlflow_recorder import ExperimentRecorder

    extra = overrides or {}
    workdir = workdir.resolve()
    result = DemoResult(tracking_uri=redact_value(resolve_tracking_uri(tracking_uri)))  # printed: no secret
    with ExperimentRecorder(
        experiment_name=experiment, experiment_type="demo", run_name="demo", tracking_uri=tracking_uri
    ) as parent:
        result.parent_run_id = parent.run_id
        _run_chain(result, workdir, experiment, tracking_uri, extra, parent.run_id, quiet=quiet)
        parent.set_tags({"mlflow.note.content": _description(result)})
    if not quiet:
        print_summary(result, experiment)
    return result


def _description(result: DemoResult) -> str:
    return "yololab demo: " + "; ".join(
        f"{kind} " + ", ".join(f"{k} {v:.3f}" for k, v in values.items() if v is not None)
        for kind, values in result.headline.items()
    )


def _run_chain(
    result: DemoResult, workdir: Path, experiment: str, tracking_uri: str | None, extra: dict[str, Any],
    parent_run_id: str, *, quiet: bool,
) -> None:  # fmt: skip
    """Train -> infer + track -> quant, each a child run of ``parent_run_id``."""
    from yololab.runners.infer import InferenceBenchmarkRunner
    from yololab.runners.quant import QuantizationRunner
    from yololab.runners.train import TrainingRunner

    say = (lambda _text: None) if quiet else console.rule

    say("[bold]1/3 train[/] (synthetic world, model from YAML, CPU)")
    start = time.perf_counter()
    trained = TrainingRunner(
        _config("train", workdir, experiment, tracking_uri, extra.get("train", {}), parent_run_id), quiet=quiet
    ).run()
    result.seconds["train"] = time.perf_counter() - start
    result.run_ids["train"] = trained.run_id
    if trained.best_weights is None:
        raise RuntimeError(f"training produced no best.pt in {trained.save_dir}")
    final = trained.final.detection if trained.final else None
    result.headline["train"] = {"mAP50": final.mAP50 if final else None, "mAP50_95": final.mAP50_95 if final else None}
    weights = {"model": str(trained.best_weights)}

    say("[bold]2/3 infer[/] (validation, benchmark loop, ByteTrack over the MOT sequences)")
    infer_cfg = _config(
        "infer", workdir, experiment, tracking_uri, {**weights, **extra.get("infer", {})}, parent_run_id
    )
    inferred = _timed(result, "infer", InferenceBenchmarkRunner(infer_cfg, quiet=quiet).run)
    m = inferred.metrics
    result.headline["infer"] = {
        "mAP50": m.detection.mAP50, "fps": m.system.fps, "p95_ms": m.system.inference_time_p95_ms,
        "HOTA": m.mot.hota if m.mot else None, "MOTA": m.mot.mota if m.mot else None,
    }  # fmt: skip

    say("[bold]3/3 quant[/] (ONNX FP32 vs ONNX INT8 static, onnxruntime CPU)")
    quant_cfg = _config(
        "quant", workdir, experiment, tracking_uri, {**weights, **extra.get("quant", {})}, parent_run_id
    )
    quantized = _timed(result, "quant", QuantizationRunner(quant_cfg, quiet=quiet).run)
    result.gates_passed = quantized.gates_passed
    c = quantized.metrics.comparison
    result.headline["quant"] = {
        "drop_mAP50": c.accuracy_drop_mAP50 if c else None, "speedup": c.speedup_ratio if c else None,
        "compression": c.compression_ratio if c else None,
    }  # fmt: skip


def print_summary(result: DemoResult, experiment: str) -> None:
    """The three runs, their headline numbers, where they are and how to look at them."""
    table = Table(title=f"yololab demo — experiment '{experiment}'")
    table.add_column("run")
    table.add_column("run id", no_wrap=True, min_width=32)  # in full: it is what `compare` and the UI take
    table.add_column("seconds", justify="right")
    table.add_column("headline")
    for kind, run_id in result.run_ids.items():
        values = ", ".join(f"{k} {v:.3f}" for k, v in result.headline.get(kind, {}).items() if v is not None)
        table.add_row(kind, run_id, f"{result.seconds.get(kind, 0):.0f}", values)
    console.print(table)
    console.print(f"tracking store: [bold]{result.tracking_uri}[/]  (total {sum(result.seconds.values()):.0f} s)")
    from yololab.runners.terminal import console_script, ui_command

    if result.tracking_uri.startswith(("http://", "https://")):
        console.print(f"open {result.tracking_uri} in a browser")
    else:
        ui = ui_command(result.tracking_uri, console_script("mlflow"))
        console.print(f"open the MLflow UI: [bold]{ui}[/]", soft_wrap=True)
    compare = f"{console_script('yololab')} compare {' '.join(result.run_ids.values())} --output report.html"
    console.print(f"compare them: [bold]{compare}[/]", soft_wrap=True)

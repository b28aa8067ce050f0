"""``yololab train|infer|quant CONFIG``: run one experiment described by a YAML file (or the packaged default)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from yololab.cli import skip_teardown

CONFIG_HELP = "Experiment YAML (see configs/). Without it, the packaged default for this experiment type is used."
SET_EXAMPLES = {
    "train": "--set train.lr0=0.02",
    "infer": "--set infer.tracking.benchmark=MOT17",
    "quant": "--set quant.gates.max_accuracy_drop=0.01",
    "bench": "--set bench.calibration_size=32",
}


def _set_help(kind: str) -> str:
    return (
        f"Override any config field by its dotted path, e.g. {SET_EXAMPLES[kind]} "
        "(repeatable; YAML-typed value; wins over the other options)."
    )


SET_HELP = {kind: _set_help(kind) for kind in SET_EXAMPLES}
"""The ``--set`` help of each command, with an example of its own kind."""

TRACKING_URI_HELP = "MLflow tracking URI (tracking.uri); default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db."
OUTPUT_DIR_HELP = "Folder for weights, exports and tables (output_dir)."
PRINT_CONFIG_HELP = "Print the resolved config (YAML, secrets redacted) and exit without running."
DATA_HELP = "A YOLO data.yaml instead of the synthetic world (data.yaml)."


def _load(
    kind: str, config: Path | None, options: dict[str, Any], sets: list[str] | None, *, print_config: bool = False
) -> Any:
    """The config of this command: the file (or packaged default) with its shortcut options and ``--set`` applied.

    A bad ``--set``, an invalid field or a config of another kind exits 2 with the reason; ``print_config`` prints
    the resolved config (secrets redacted) and exits 0.
    """
    from yololab.cli.options import overrides_from_cli
    from yololab.config import ConfigError, default_config_path, load_config

    try:
        cfg = load_config(config or default_config_path(kind), overrides_from_cli(options, sets or []))
    except (ConfigError, ValueError) as err:
        typer.secho(f"error: {err}", fg="red", err=True)
        raise typer.Exit(2) from err
    if cfg.kind != kind:
        typer.secho(
            f"error: {config}: kind is {cfg.kind!r}, but this command runs {kind!r} experiments", fg="red", err=True
        )
        raise typer.Exit(2)
    if print_config:
        import yaml

        from yololab.adapters.mlflow_params import redacted_config

        data = redacted_config(cfg)
        typer.echo(yaml.safe_dump({"kind": data.pop("kind"), **data}, sort_keys=False, allow_unicode=True), nl=False)
        raise typer.Exit(0)
    return cfg


OFFLINE_HELP = "Record the run in the local journal only; upload it later with `yololab sync`."


def _fail(err: Exception) -> None:
    from yololab.adapters.mlflow_params import redact_value

    typer.secho(f"error: {redact_value(str(err))}", fg="red", err=True)
    raise typer.Exit(2) from err


@contextlib.contextmanager
def _offline(offline: bool) -> Iterator[None]:
    """``--offline``: ``YOLOLAB_OFFLINE=1`` for the experiment (the recorder then sends nothing), restored after."""
    if not offline:
        yield
        return
    previous = os.environ.get("YOLOLAB_OFFLINE")
    os.environ["YOLOLAB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("YOLOLAB_OFFLINE", None)
        else:
            os.environ["YOLOLAB_OFFLINE"] = previous


def _run(runner: Any, cfg: Any, offline: bool, errors: tuple[type[Exception], ...] = ()) -> Any:
    """``runner(cfg).run()`` (``--offline`` applied); bad input (``errors``, files, values) exits 2 with its message.

    Once the run has ended, everything is sent, written and closed: the process may end without the interpreter's
    teardown (:func:`yololab.cli.skip_teardown`).
    """
    try:
        with _offline(offline):
            result = runner(cfg).run()
    except (*errors, FileNotFoundError, ValueError) as err:
        _fail(err)
    skip_teardown()
    return result


def _footer(cfg: Any, run_id: str, started: float) -> None:
    """Where the run went (experiment, run id, tracking URI without credentials, elapsed) and how to see it."""
    from yololab.adapters.mlflow_params import redact_value, resolve_tracking_uri, split_credentials
    from yololab.runners.terminal import Footer, console_script, print_footer

    uri = redact_value(split_credentials(resolve_tracking_uri(cfg.tracking.uri))[0])
    print_footer(Footer(cfg.experiment, run_id, uri, time.monotonic() - started, console_script("mlflow")))


def _per_class(table: Any, title: str) -> None:
    """The validator's per-class table and speed line, as ``yolo val`` shows them (nothing when absent)."""
    if table is not None:
        from yololab.runners.terminal import print_per_class

        print_per_class(table, title=title)


def register(app: typer.Typer) -> None:
    """Add ``train``, ``infer`` and ``quant``."""

    @app.command()
    def train(
        config: Path | None = typer.Argument(None, help=CONFIG_HELP, exists=True, dir_okay=False),
        epochs: int | None = typer.Option(None, help="Training epochs (train.epochs)."),
        imgsz: int | None = typer.Option(None, help="Image size in pixels (imgsz)."),
        model: str | None = typer.Option(None, help="Model YAML (e.g. yolo11n.yaml) or local .pt to start from."),
        data: Path | None = typer.Option(None, help=DATA_HELP),
        device: str | None = typer.Option(None, help="cpu, 0, cuda:0 ..."),
        experiment: str | None = typer.Option(None, help="MLflow experiment name."),
        run_name: str | None = typer.Option(None, help="MLflow run name."),
        tracking_uri: str | None = typer.Option(None, "--tracking-uri", help=TRACKING_URI_HELP),
        output_dir: Path | None = typer.Option(None, help=OUTPUT_DIR_HELP),
        set_: list[str] | None = typer.Option(None, "--set", help=SET_HELP["train"]),
        offline: bool = typer.Option(False, "--offline", help=OFFLINE_HELP),
        print_config: bool = typer.Option(False, "--print-config", help=PRINT_CONFIG_HELP),
    ) -> None:
        """Train a YOLO model; log det.* and sys.* every epoch (step = epoch) and the final evaluation.

        Examples:  yololab train --epochs 5  |  yololab train my.yaml --data coco8/data.yaml --model yolo11n.yaml
        """
        from yololab.runners.train import TrainingRunner

        started = time.monotonic()
        options = {"epochs": epochs, "imgsz": imgsz, "model": model, "data": data, "device": device,
                   "experiment": experiment, "run_name": run_name, "tracking_uri": tracking_uri,
                   "output_dir": output_dir}  # fmt: skip
        cfg = _load("train", config, options, set_, print_config=print_config)
        result = _run(TrainingRunner, cfg, offline)
        final = result.final.detection if result.final else None
        _per_class(result.per_class, f"{result.best_weights}, final evaluation")
        typer.echo(f"run {result.run_id}: best weights {result.best_weights}")
        if final is not None:
            typer.echo(f"final mAP50 {final.mAP50:.4f}  mAP50-95 {final.mAP50_95:.4f}")
        _footer(cfg, result.run_id, started)

    @app.command()
    def infer(
        config: Path | None = typer.Argument(None, help=CONFIG_HELP, exists=True, dir_okay=False),
        model: str | None = typer.Option(None, help="Trained weights: .pt, .onnx or an exported model folder."),
        data: Path | None = typer.Option(None, help=DATA_HELP),
        mot_dir: Path | None = typer.Option(
            None, help="Sequences to track: MOTChallenge folders, frame folders or videos (data.mot_dir)."
        ),
        allow_class_mismatch: bool | None = typer.Option(
            None, "--allow-class-mismatch", help="Measure even when the model's classes are not the dataset's."
        ),
        iterations: int | None = typer.Option(None, help="Timed benchmark iterations (infer.iterations)."),
        tracker: str | None = typer.Option(None, help="bytetrack, botsort or a tracker YAML (infer.tracking.tracker)."),
        device: str | None = typer.Option(None, help="cpu, 0, cuda:0 ..."),
        experiment: str | None = typer.Option(None, help="MLflow experiment name."),
        run_name: str | None = typer.Option(None, help="MLflow run name."),
        tracking_uri: str | None = typer.Option(None, "--tracking-uri", help=TRACKING_URI_HELP),
        output_dir: Path | None = typer.Option(None, help=OUTPUT_DIR_HELP),
        set_: list[str] | None = typer.Option(None, "--set", help=SET_HELP["infer"]),
        offline: bool = typer.Option(False, "--offline", help=OFFLINE_HELP),
        print_config: bool = typer.Option(False, "--print-config", help=PRINT_CONFIG_HELP),
    ) -> None:
        """Validate (det.*), benchmark (sys.*) and track + evaluate (mot.*) one model; log one run.

        Examples:  yololab infer --model runs/yololab/train/weights/best.pt  |  yololab infer --model best.onnx
        --data people/data.yaml --mot-dir MOT17/train --set imgsz=640
        """
        from yololab.runners.infer import InferenceBenchmarkRunner

        started = time.monotonic()
        options = {"model": model, "data": data, "mot_dir": mot_dir, "allow_class_mismatch": allow_class_mismatch,
                   "iterations": iterations, "tracker": tracker, "device": device, "experiment": experiment,
                   "run_name": run_name, "tracking_uri": tracking_uri, "output_dir": output_dir}  # fmt: skip
        cfg = _load("infer", config, options, set_, print_config=print_config)
        result = _run(InferenceBenchmarkRunner, cfg, offline)
        m = result.metrics
        parts = [f"mAP50 {m.detection.mAP50:.4f}", f"mAP50-95 {m.detection.mAP50_95:.4f}"]
        if m.system.fps is not None and m.system.inference_time_p95_ms is not None:
            parts += [f"fps {m.system.fps:.1f}", f"p95 {m.system.inference_time_p95_ms:.2f} ms"]
        if m.mot is not None and m.mot.hota is not None and m.mot.mota is not None:
            parts += [f"HOTA {m.mot.hota:.4f}", f"MOTA {m.mot.mota:.4f}", f"IDF1 {m.mot.idf1:.4f}"]
        _per_class(result.per_class, f"{cfg.model} on {cfg.data.yaml or 'the synthetic world'}")
        typer.echo(f"run {result.run_id}: " + "  ".join(parts))
        _footer(cfg, result.run_id, started)

    @app.command()
    def quant(
        config: Path | None = typer.Argument(None, help=CONFIG_HELP, exists=True, dir_okay=False),
        model: str | None = typer.Option(None, help="Original weights: .pt or FP32 .onnx."),
        data: Path | None = typer.Option(None, help=DATA_HELP),
        allow_class_mismatch: bool | None = typer.Option(
            None, "--allow-class-mismatch", help="Measure even when the model's classes are not the dataset's."
        ),
        method: str | None = typer.Option(None, help="onnx-int8-static, onnx-int8-dynamic, onnx-fp16, ..."),
        device: str | None = typer.Option(None, help="cpu, 0, cuda:0 ..."),
        experiment: str | None = typer.Option(None, help="MLflow experiment name."),
        run_name: str | None = typer.Option(None, help="MLflow run name."),
        tracking_uri: str | None = typer.Option(None, "--tracking-uri", help=TRACKING_URI_HELP),
        output_dir: Path | None = typer.Option(None, help=OUTPUT_DIR_HELP),
        set_: list[str] | None = typer.Option(None, "--set", help=SET_HELP["quant"]),
        offline: bool = typer.Option(False, "--offline", help=OFFLINE_HELP),
        print_config: bool = typer.Option(False, "--print-config", help=PRINT_CONFIG_HELP),
    ) -> None:
        """Compare an original model with its quantized version; exit 3 when a quality gate is missed.

        Examples:  yololab quant --method onnx-int8-static  |  yololab quant --model best.onnx --method onnx-fp16
        """
        from yololab.adapters.quantization import QuantizationUnavailable
        from yololab.runners.quant import QuantizationRunner

        started = time.monotonic()
        options = {"model": model, "data": data, "allow_class_mismatch": allow_class_mismatch, "method": method,
                   "device": device, "experiment": experiment, "run_name": run_name, "tracking_uri": tracking_uri,
                   "output_dir": output_dir}  # fmt: skip
        cfg = _load("quant", config, options, set_, print_config=print_config)
        result = _run(QuantizationRunner, cfg, offline, (QuantizationUnavailable,))
        c = result.metrics.comparison
        assert c is not None
        values = {k: v for k, v in c.to_mlflow_dict("comparison").items()}
        typer.echo(f"run {result.run_id}: " + "  ".join(f"{k.split('.', 1)[1]} {v:.4f}" for k, v in values.items()))
        typer.echo(f"quantized model: {result.quantized_model}")
        _footer(cfg, result.run_id, started)
        if not result.gates_passed:
            typer.secho("quality gates missed: " + "; ".join(result.failed_gates), fg="red", err=True)
            raise typer.Exit(3)

    @app.command()
    def bench(
        config: Path | None = typer.Argument(None, help=CONFIG_HELP, exists=True, dir_okay=False),
        model: str | None = typer.Option(None, help="The trained .pt every format is exported from."),
        formats: str | None = typer.Option(
            None, help="Comma-separated formats, e.g. torch,onnx,openvino,openvino-int8,onnx-int8-static."
        ),
        recommend: bool = typer.Option(
            False, "--recommend", help="Print only the recommended format (and exit 3 when none passes the gates)."
        ),
        data: Path | None = typer.Option(None, help=DATA_HELP),
        device: str | None = typer.Option(None, help="cpu, 0, cuda:0 ..."),
        experiment: str | None = typer.Option(None, help="MLflow experiment name."),
        run_name: str | None = typer.Option(None, help="MLflow run name."),
        tracking_uri: str | None = typer.Option(None, "--tracking-uri", help=TRACKING_URI_HELP),
        output_dir: Path | None = typer.Option(None, help=OUTPUT_DIR_HELP),
        set_: list[str] | None = typer.Option(None, "--set", help=SET_HELP["bench"]),
        offline: bool = typer.Option(False, "--offline", help=OFFLINE_HELP),
        print_config: bool = typer.Option(False, "--print-config", help=PRINT_CONFIG_HELP),
    ) -> None:
        """Measure the model in every deployment format side by side: one parent run, one child run per format.

        Examples:  yololab bench  |  yololab bench --formats torch,onnx,openvino,openvino-int8 --recommend
        """
        from yololab.runners.bench import FormatSweepRunner, print_table

        started = time.monotonic()
        listed = [f.strip() for f in formats.split(",") if f.strip()] if formats else None
        options = {"model": model, "formats": listed, "data": data, "device": device, "experiment": experiment,
                   "run_name": run_name, "tracking_uri": tracking_uri, "output_dir": output_dir}  # fmt: skip
        cfg = _load("bench", config, options, set_, print_config=print_config)
        result = _run(FormatSweepRunner, cfg, offline)
        if not recommend:
            print_table(result)
        typer.echo(f"run {result.run_id}: recommended {result.recommended or 'none'}")
        _footer(cfg, result.run_id, started)
        if result.recommended is None:
            raise typer.Exit(3)

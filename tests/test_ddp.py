"""Multi-GPU (DDP) training, on CPU: what Ultralytics pickles for its workers, and who logs.

Ultralytics starts DDP by cloudpickling the trainer's class, args, model and callbacks into a state file
(``ultralytics.utils.dist.generate_ddp_file``) that each worker loads in a fresh interpreter. Here the state file of a
yololab-instrumented trainer is built for real and the generated script is run by two fresh interpreters that join a
``gloo`` process group as ranks 0 and 1 (``RANK``/``LOCAL_RANK``/``WORLD_SIZE`` as ``torch.distributed.run`` sets
them). This machine has no GPUs, so the device is ``cpu``: the workers train side by side (Ultralytics wraps the model
in ``DistributedDataParallel`` only on GPUs), but sampler, broadcasts, barriers and callbacks run the DDP code paths.
The parent follows the journal while the workers run, as ``TrainingRunner`` does for ``device: 0,1``.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import free_port
from test_runners import TINY_WORLD

EPOCHS = 2
WORKER = """
import runpy, sys
import torch.distributed as dist

dist.init_process_group("gloo")  # env:// (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE), as torch.distributed.run does
runpy.run_path(sys.argv[1], run_name="__main__")
dist.destroy_process_group()
"""


def _config(tmp_path: Path, uri: str, **overrides: Any) -> Any:
    from yololab.config import default_config_path, load_config

    values = {**TINY_WORLD, "experiment": "ddp-tests", "tracking.uri": uri, "imgsz": 64,
              "tracking.journal_dir": str(tmp_path / "journal"), "output_dir": str(tmp_path / "runs"),
              "data.root": str(tmp_path / "world"), "train.epochs": EPOCHS, "train.batch": 8, **overrides}  # fmt: skip
    return load_config(default_config_path("train"), values)


def _instrumented_trainer(cfg: Any, recorder: Any, tmp_path: Path) -> tuple[Any, Any]:
    """A trainer built as ``YOLO.train`` builds it, with yololab's callbacks attached as ``TrainingRunner`` does."""
    from ultralytics import YOLO

    from yololab.runners._common import EpochProgress, prepare_data
    from yololab.runners.train import TrainingRunner, _EpochLogger

    data = prepare_data(cfg, quiet=True)
    model = YOLO(cfg.model, task="detect")
    logger = _EpochLogger(recorder, None, EpochProgress(quiet=True), device=cfg.device)
    logger.attach(model)
    args = {**model.overrides, **TrainingRunner(cfg, quiet=True)._train_args(data, tmp_path / "runs" / "train"),
            "model": model.overrides["model"], "task": "detect", "mode": "train"}  # fmt: skip
    trainer = model._smart_load("trainer")(overrides=args, _callbacks=model.callbacks)
    return trainer, logger


@pytest.fixture
def ultralytics_offline(tmp_path: Path) -> None:
    from yololab.adapters.ultralytics_env import prepare_ultralytics_offline

    prepare_ultralytics_offline(Path(os.environ.get("YOLO_CONFIG_DIR") or tmp_path / "ul-config"))


@pytest.mark.quick
def test_the_callback_object_pickles_as_plain_data_without_secrets(tmp_path: Path) -> None:
    import cloudpickle

    from yololab.adapters.mlflow_recorder import ExperimentRecorder
    from yololab.runners.train import _EpochLogger

    uri = "http://alice:S3cret-Passw0rd@127.0.0.1:9"
    with ExperimentRecorder(experiment_name="ddp-pickle", experiment_type="train", tracking_uri=uri,
                            journal_dir=tmp_path / "journal", offline=True) as recorder:  # fmt: skip
        logger = _EpochLogger(recorder, None, None, device="0,1")
        blob = cloudpickle.dumps(logger._on_fit_epoch_end)  # a bound method, as Ultralytics holds it
        copy = pickle.loads(blob).__self__
    assert b"S3cret-Passw0rd" not in blob and b"alice" not in blob
    assert copy.recorder is None and copy.collector is None and copy.progress is None
    assert copy.run == recorder.handle and copy.run.tracking_uri == "http://127.0.0.1:9"
    assert copy.device == "0,1"


@pytest.mark.integration
@pytest.mark.slow
def test_ddp_workers_log_every_epoch_once_into_the_parent_run(
    tmp_path: Path, mlflow_server: Any, ultralytics_offline: None
) -> None:
    from mlflow.tracking import MlflowClient
    from ultralytics.utils.dist import ddp_cleanup, generate_ddp_file
    from ultralytics.utils.patches import torch_load

    from yololab.adapters.mlflow_recorder import ExperimentRecorder, sync_journals
    from yololab.journal import read_journal
    from yololab.runners.train import _EpochLogger

    cfg = _config(tmp_path, mlflow_server.uri)
    with ExperimentRecorder(experiment_name="ddp-tests", experiment_type="train", tracking_uri=mlflow_server.uri,
                            run_name="ddp", journal_dir=tmp_path / "journal") as recorder:  # fmt: skip
        trainer, _ = _instrumented_trainer(cfg, recorder, tmp_path)
        ddp_file = generate_ddp_file(trainer)  # raised "cannot pickle '_thread.RLock' object" before
        try:
            state = torch_load(Path(ddp_file).with_suffix(".pt"), map_location="cpu")
            pickled = {cb.__self__ for cbs in state["callbacks"].values() for cb in cbs
                       if isinstance(getattr(cb, "__self__", None), _EpochLogger)}  # fmt: skip
            assert len(pickled) == 1 and next(iter(pickled)).recorder is None  # plain data; the recorder stays here
            script = tmp_path / "worker.py"
            script.write_text(WORKER)
            port = free_port()
            env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE")}
            workers = []
            started = time.monotonic()
            with recorder.follow_journal() as follower:
                for rank in (0, 1):
                    worker_env = {**env, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2",
                                  "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                                  "OMP_NUM_THREADS": "1"}  # fmt: skip
                    log = open(tmp_path / f"rank{rank}.log", "wb")  # noqa: SIM115
                    workers.append(subprocess.Popen([sys.executable, str(script), ddp_file], env=worker_env,
                                                    stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path))  # fmt: skip
                codes = [w.wait(timeout=600) for w in workers]
            assert codes == [0, 0], [(tmp_path / f"rank{r}.log").read_text()[-3000:] for r in (0, 1)]
        finally:
            ddp_cleanup(trainer, ddp_file)
        adopted_steps = sorted(r["metrics"][0][3] for r in follower.adopted if r["op"] == "log_metrics")
        run_id = recorder.run_id
    elapsed = time.monotonic() - started

    # the journal holds each epoch once: rank 0 wrote it, rank 1 wrote nothing
    records = read_journal(recorder.journal_path)
    epoch_records = [r for r in records if r["op"] == "log_metrics" and any(m[0] == "det.mAP50" for m in r["metrics"])]
    assert sorted(r["metrics"][0][3] for r in epoch_records) == list(range(1, EPOCHS + 1)), elapsed
    assert adopted_steps == list(range(1, EPOCHS + 1))
    assert any(r["op"] == "set_tags" and "yololab.unavailable.gpu" in r["tags"] for r in records)  # rank 0's collector

    # the parent's run on the server has every epoch exactly once, for every per-epoch key
    client = MlflowClient(tracking_uri=mlflow_server.uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    for key in ("det.mAP50", "det.box_loss", "sys.epoch_time_s", "sys.cpu_utilization_pct", "train.lr.pg0"):
        history = client.get_metric_history(run_id, key)
        assert sorted(m.step for m in history) == list(range(1, EPOCHS + 1)), key
    assert run.data.tags["yololab.unavailable.gpu"] == "device is cpu: no GPU used"

    # replaying the journal afterwards sends nothing twice
    report = sync_journals([recorder.journal_path])
    assert report.sent == 0 and report.skipped == len(records)
    assert sorted(m.step for m in client.get_metric_history(run_id, "det.mAP50")) == list(range(1, EPOCHS + 1))

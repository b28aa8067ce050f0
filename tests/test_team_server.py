"""The three experiments against a team server: ``mlflow server`` on PostgreSQL, basic auth, proxied artifacts.

The same tiny synthetic world and settings as ``test_runners.py`` (one short training, one inference, one
quantization), logged as the non-admin user ``TEAM_USER`` with credentials from the environment, as a team member
would run them. What is checked is where things land: the runs in PostgreSQL's tables, the artifacts in the server's
``--artifacts-destination`` (uploaded through the server, never written by the client), the user's permission.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import TEAM_PASSWORD, TEAM_USER, PostgresServer
from test_runners import TINY_WORLD

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXPERIMENT = "team-tests"


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory, team_server: Any) -> Iterator[dict[str, Any]]:
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("team")
    with pytest.MonkeyPatch.context() as env:  # a team member: credentials in the environment, not in the URI
        env.setenv("MLFLOW_TRACKING_USERNAME", TEAM_USER)
        env.setenv("MLFLOW_TRACKING_PASSWORD", TEAM_PASSWORD)
        yield {
            "root": root,
            "server": team_server,
            "common": {
                **TINY_WORLD,
                "experiment": EXPERIMENT,
                "tracking.uri": team_server.uri,
                "imgsz": 64,
                "tracking.journal_dir": str(root / "journal"),
                "output_dir": str(root / "runs"),
                "data.root": str(root / "world"),
            },
            "client": MlflowClient(tracking_uri=team_server.uri),
            "runs": {},
        }


def _config(kind: str, team: dict[str, Any], **overrides: Any) -> Any:
    from yololab.config import default_config_path, load_config

    return load_config(default_config_path(kind), {**team["common"], **overrides})


def _run(kind: str, team: dict[str, Any]) -> Any:
    """Run ``kind`` once per module (infer and quant start from the trained ``best.pt``)."""
    if kind in team["runs"]:
        return team["runs"][kind]
    if kind == "train":
        from yololab.runners.train import TrainingRunner

        cfg = _config("train", team, **{"train.epochs": 2, "train.batch": 8, "run_name": "team-train"})
        result = TrainingRunner(cfg, quiet=True).run()
    elif kind == "infer":
        from yololab.runners.infer import InferenceBenchmarkRunner

        best = _run("train", team).best_weights
        cfg = _config("infer", team, **{"model": str(best), "run_name": "team-infer", "infer.warmup": 2,
                                        "infer.iterations": 10, "infer.batch_size": 2})  # fmt: skip
        result = InferenceBenchmarkRunner(cfg, quiet=True).run()
    else:
        from yololab.runners.quant import QuantizationRunner

        best = _run("train", team).best_weights
        cfg = _config("quant", team, **{"model": str(best), "run_name": "team-quant", "quant.calibration_size": 8,
                                        "infer.warmup": 2, "infer.iterations": 10,
                                        "quant.gates.max_accuracy_drop": 1.0})  # fmt: skip
        result = QuantizationRunner(cfg, quiet=True).run()
    team["runs"][kind] = result
    return result


EXPECTED = {
    "train": ("det.mAP50", "det.box_loss", "sys.epoch_time_s", "sys.model_size_mb"),
    "infer": ("det.mAP50", "sys.inference_time_p95_ms", "sys.fps"),
    "quant": ("comparison.speedup_ratio", "comparison.compression_ratio", "det.quantized.mAP50"),
}


@pytest.mark.parametrize("kind", ["train", "infer", "quant"])
def test_experiment_on_postgres_with_basic_auth(
    kind: str, team: dict[str, Any], postgres_server: PostgresServer
) -> None:
    result = _run(kind, team)
    client = team["client"]
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    missing = [k for k in EXPECTED[kind] if k not in run.data.metrics]
    assert not missing, f"{kind}: missing {missing}"
    if kind == "train":
        assert sorted(m.step for m in client.get_metric_history(result.run_id, "det.box_loss")) == [1, 2]
        # det.* per epoch, then the final evaluation of best.pt at its own step after the last epoch
        assert sorted(m.step for m in client.get_metric_history(result.run_id, "det.mAP50")) == [1, 2, 3]

    # stored in PostgreSQL: the run row and its metrics are in the mlflow database
    conn = postgres_server.connect("mlflow")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT status FROM runs WHERE run_uuid = %s", (result.run_id,))
            assert cur.fetchone() == ("FINISHED",)
            cur.execute("SELECT count(*) FROM metrics WHERE run_uuid = %s", (result.run_id,))
            assert cur.fetchone()[0] >= len(EXPECTED[kind])
    finally:
        conn.close()

    # the artifacts went through the server into --artifacts-destination
    listed = {a.path for a in client.list_artifacts(result.run_id)}
    assert "config.yaml" in listed
    stored = list((team["server"].root / "artifacts").rglob("config.yaml"))
    assert any(result.run_id in str(p) for p in stored), stored
    journal = Path(team["common"]["tracking.journal_dir"])
    assert not any(TEAM_PASSWORD in p.read_text(errors="replace") for p in journal.glob("*.jsonl"))


def test_a_read_only_team_member_cannot_write_into_someone_elses_experiment(
    team: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from yololab.adapters.mlflow_recorder import ExperimentRecorder, TrackingAuthError

    server = team["server"]
    _ = _run("train", team)  # the experiment exists, created (and managed) by TEAM_USER
    server.admin_call("POST", "/api/2.0/mlflow/users/create", {"username": "bob", "password": "bob-Team-Pass-42"})
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "bob")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "bob-Team-Pass-42")
    with pytest.raises(TrackingAuthError) as err:
        ExperimentRecorder(experiment_name=EXPERIMENT, experiment_type="train", tracking_uri=server.uri,
                           journal_dir=team["root"] / "journal-bob")  # fmt: skip
    assert err.value.status == 403
    assert "bob" in str(err.value)

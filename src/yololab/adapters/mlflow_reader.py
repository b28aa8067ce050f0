"""Reading logged runs back from MLflow (for ``yololab compare`` and the report); never creates a store."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yololab.metrics.results import LR_PREFIX


@dataclass
class RunData:
    """One run as the report needs it."""

    run_id: str
    name: str
    experiment_type: str
    status: str
    metrics: dict[str, float]
    params: dict[str, str]
    tags: dict[str, str]
    history: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``<run name> (<run id prefix>)``, for legends and tables."""
        return f"{self.name} ({self.run_id[:8]})"


PER_EPOCH_KEYS = ("det.mAP50", "det.mAP50_95", "det.precision", "det.recall", "det.box_loss", "det.cls_loss",
                  "det.dfl_loss", "det.val_box_loss", "det.val_cls_loss", "det.val_dfl_loss")  # fmt: skip
PER_EPOCH_PREFIXES = (LR_PREFIX,)
"""Keys with these prefixes (the learning rate per parameter group, ``train.lr.pg0`` ...) have their history too."""
JSON_ARTIFACTS = ("latency/samples_ms.json", "tables/mot_metrics.json", "class_keys.json", "tables/formats.json")


def _client(tracking_uri: str | None) -> Any:
    """A read-only client: a SQLite store that does not exist is an error, never created (``FileNotFoundError``)."""
    from yololab.adapters.mlflow_params import resolve_tracking_uri
    from yololab.adapters.mlflow_recorder import bound_mlflow_http, open_client, use_credentials

    bound_mlflow_http(request_timeout_s=10.0, max_retries=2)
    return open_client(use_credentials(resolve_tracking_uri(tracking_uri)), create_store=False)


def find_run_ids(*, experiment: str, tracking_uri: str | None = None, max_runs: int = 50) -> list[str]:
    """IDs of the runs of ``experiment``, oldest first."""
    client = _client(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise ValueError(f"no MLflow experiment named {experiment!r} at {client.tracking_uri}")
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"], max_results=max_runs)
    return [r.info.run_id for r in runs]


def load_runs(run_ids: list[str], *, tracking_uri: str | None = None) -> list[RunData]:
    """Metrics, params, tags, per-epoch history and the small JSON artifacts of each run."""
    client = _client(tracking_uri)
    out = []
    for run_id in run_ids:
        run = client.get_run(run_id)
        data = RunData(
            run_id=run_id,
            name=run.info.run_name or run_id[:8],
            experiment_type=run.data.tags.get("yololab.experiment_type", "?"),
            status=run.info.status,
            metrics=dict(run.data.metrics),
            params=dict(run.data.params),
            tags=dict(run.data.tags),
        )
        if data.experiment_type == "train":
            data.history = {key: _history(client, run_id, key) for key in history_keys(data.metrics)}
        data.artifacts = _json_artifacts(client, run_id)
        out.append(data)
    return out


def history_keys(metrics: dict[str, float]) -> list[str]:
    """The keys of a training run whose per-epoch history the report plots.

    Those of :data:`PER_EPOCH_KEYS` that it logged, then its keys with a :data:`PER_EPOCH_PREFIXES` prefix, sorted.

    Example:
        >>> history_keys({"train.lr.pg1": 0.01, "det.mAP50": 0.5, "train.lr.pg0": 0.01, "sys.fps": 9.0})
        ['det.mAP50', 'train.lr.pg0', 'train.lr.pg1']
    """
    prefixed = sorted(k for k in metrics if k.startswith(PER_EPOCH_PREFIXES))
    return [k for k in PER_EPOCH_KEYS if k in metrics] + prefixed


def _history(client: Any, run_id: str, key: str) -> list[tuple[int, float]]:
    """``[(step, value), ...]`` of ``key``: the first value logged at each step.

    One per epoch, and the final evaluation of ``best.pt`` at step N + 1; a value logged again at a step it already
    has is left out.
    """
    points = sorted((m.step, m.timestamp, m.value) for m in client.get_metric_history(run_id, key))
    first_per_step: dict[int, float] = {}
    for step, _ts, value in points:
        first_per_step.setdefault(step, value)
    return sorted(first_per_step.items())


def _json_artifacts(client: Any, run_id: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in JSON_ARTIFACTS:
            try:
                path = client.download_artifacts(run_id, name, tmp)
            except Exception:  # an artifact this run does not have
                continue
            found[name] = json.loads(Path(path).read_text())
    return found

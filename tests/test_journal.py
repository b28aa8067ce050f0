"""The write-ahead journal's integrity: checksums, torn and corrupt lines, and what ``yololab sync`` makes of them.

Runs are recorded offline (journal only), damaged the way disks and crashes damage files, then replayed with
``yololab sync`` into the session's real ``mlflow server``: every bad line is reported with its file, line and what it
held, every good record lands exactly once, and the exit code says that something could not be replayed.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from yololab.adapters.mlflow_recorder import ExperimentRecorder, sync_journals
from yololab.cli import app
from yololab.journal import (
    Journal,
    SyncState,
    decode_line,
    encode_record,
    read_journal,
    scan_journal,
    state_path_of,
)

STEPS = 5
METRICS = 16


def words(text: str) -> str:
    """``text`` with every run of whitespace made one space (console wrapping does not matter)."""
    return " ".join(text.split())


# ------------------------------------------------------------------------------------------- the format (quick)


@pytest.mark.quick
def test_records_round_trip_with_checksums_and_special_floats(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j" / "run.jsonl")
    records = [{"op": "log_metrics", "run_key": "r", "metrics": [["a", v, 1795784241897, i]]}
               for i, v in enumerate([0.5, math.nan, math.inf, -math.inf, 1e-300])]  # fmt: skip
    for record in records:
        journal.append(record)
    journal.close()
    contents = scan_journal(journal.path)
    assert contents.bad == [] and len(contents.records) == 5
    values = [r["metrics"][0][1] for r in contents.records]
    assert math.isnan(values[1]) and values[0] == 0.5 and values[2:] == [math.inf, -math.inf, 1e-300]
    first = journal.path.read_text().splitlines()[0]
    assert first.startswith('{"crc":"') and json.loads(first)["v"] == 2


HELD = "run run-a, op log_metrics, step 1 (3 metrics)"


@pytest.mark.quick
@pytest.mark.parametrize(
    ("damage", "kind", "detail", "held"),
    [
        (lambda line: line.replace('"op":"log_metrics"', '"op":"log_metrics",,'), "corrupt", "not JSON", HELD),
        (lambda line: line.replace("0.25", "0.75"), "checksum", "the content does not match its CRC-32", HELD),
        (lambda line: line.replace('{"crc":"', '{"cr":"'), "checksum", "a version-2 record without its checksum", HELD),
        (lambda line: "", "corrupt", "empty line", "nothing readable (0 characters)"),
        (lambda line: '["not", "a", "record"]', "corrupt", "not a JSON object", "nothing readable (22 characters)"),
    ],
    ids=["not-json", "wrong-checksum", "checksum-removed", "empty", "not-an-object"],
)
def test_each_bad_line_is_found_with_what_it_held(
    tmp_path: Path, damage: Any, kind: str, detail: str, held: str
) -> None:
    rows = [[f"m{k}", 0.25, 1795784241897, 1] for k in range(3)]
    lines = [encode_record({"id": f"id{i}", "v": 2, "op": "log_metrics", "run_key": "run-a", "metrics": rows})
             for i in range(3)]  # fmt: skip
    lines[1] = damage(lines[1].rstrip("\n")) + "\n"
    path = tmp_path / "run.jsonl"
    path.write_text("".join(lines))
    contents = scan_journal(path)
    assert [r["id"] for r in contents.records] == ["id0", "id2"]
    (bad,) = contents.bad
    assert (bad.line, bad.kind, bad.held) == (2, kind, held) and detail in bad.detail


@pytest.mark.quick
def test_torn_last_line_is_named_and_a_complete_one_without_newline_is_kept(tmp_path: Path) -> None:
    full = [encode_record({"id": f"id{i}", "op": "end_run" if i else "start_run", "run_key": "r", "status": "FINISHED"})
            for i in range(2)]  # fmt: skip
    path = tmp_path / "run.jsonl"
    path.write_text(full[0] + full[1][:30])
    contents = scan_journal(path)
    assert [r["id"] for r in contents.records] == ["id0"]
    (bad,) = contents.bad
    assert (bad.line, bad.kind) == (2, "torn") and "cut off after 30 bytes, no newline" in bad.detail
    assert "torn final record" in str(bad) and str(path) in str(bad)
    path.write_text(full[0] + full[1].rstrip("\n"))  # everything but the newline: intact, kept
    assert [r["id"] for r in scan_journal(path).records] == ["id0", "id1"] and not scan_journal(path).bad


@pytest.mark.quick
def test_version_1_lines_without_checksum_are_still_read(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    path.write_text(json.dumps({"id": "x", "v": 1, "op": "log_params", "run_key": "r", "params": {"a": "1"}}) + "\n")
    assert decode_line(path.read_text().strip())["params"] == {"a": "1"}
    assert [r["id"] for r in read_journal(path)] == ["x"]


# ------------------------------------------------------------------------------------- sync of damaged journals


def record_offline(
    uri: str, journal_dir: Path, **kwargs: Any
) -> tuple[ExperimentRecorder, dict[int, dict[str, float]]]:
    """A run journaled only (offline): params, STEPS steps of METRICS metrics, FINISHED; lines 3.. are the steps."""
    logged = {step: {f"det.m{k}": step + k / 100 for k in range(METRICS)} for step in range(1, STEPS + 1)}
    name = kwargs.pop("experiment_name", f"journal-{uuid.uuid4().hex[:6]}")
    with ExperimentRecorder(experiment_name=name, experiment_type="train", tracking_uri=uri, journal_dir=journal_dir,
                            offline=True, run_name="damaged", **kwargs) as rec:  # fmt: skip
        rec.log_params({"epochs": STEPS})
        for step, metrics in logged.items():
            rec.log_metrics(metrics, step=step)
    assert [r["op"] for r in read_journal(rec.journal_path)] == [
        "start_run", "log_params", *["log_metrics"] * STEPS, "end_run"]  # fmt: skip
    return rec, logged


def rewrite_line(path: Path, number: int, change: Any) -> str:
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[number - 1] = change(lines[number - 1])
    path.write_text("\n".join(lines), encoding="utf-8")
    return lines[number - 1]


def server_history(uri: str, run_id: str) -> dict[str, list[tuple[int, float]]]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(run_id)
    return {k: sorted((m.step, m.value) for m in client.get_metric_history(run_id, k)) for k in run.data.metrics}


def run_of(uri: str, run_id: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri).get_run(run_id)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("change", "what"),
    [
        (lambda line: line.replace("],[", "][", 1), "corrupt record (not JSON"),
        (lambda line: line.replace("3.05", "3.5", 1), "record with a wrong checksum (the content does not match"),
    ],
    ids=["middle-line-not-json", "middle-line-wrong-checksum"],
)
def test_sync_replays_every_good_record_and_names_the_bad_one(
    mlflow_server: Any, tmp_path: Path, change: Any, what: str
) -> None:
    rec, logged = record_offline(mlflow_server.uri, tmp_path / "journal")
    rewrite_line(rec.journal_path, 5, change)  # line 5 = step 3
    first = CliRunner().invoke(app, ["sync", str(rec.journal_path)])
    assert first.exit_code == 1, first.output
    out = words(first.output)
    held = f"it held run {rec.run_key}, op log_metrics, step 3 ({METRICS} metrics); not replayed"
    assert f"bad line {rec.journal_path}:5: {what}" in out and held in out
    assert "1 journal line(s) could not be trusted and were not replayed" in out and "Traceback" not in out
    run_id = SyncState.load(rec.journal_path).runs[rec.run_key]
    run = run_of(mlflow_server.uri, run_id)
    assert (run.info.status, run.data.params) == ("FINISHED", {"epochs": str(STEPS)})
    expected = {k: [(s, logged[s][k]) for s in (1, 2, 4, 5)] for k in logged[1]}
    assert server_history(mlflow_server.uri, run_id) == expected  # every good record once, step 3 absent

    second = sync_journals([rec.journal_path])
    assert (second.sent, second.skipped, second.failed, second.bad) == (0, 7, 0, 1) and not second.ok
    assert server_history(mlflow_server.uri, run_id) == expected


@pytest.mark.integration
def test_torn_end_run_is_reported_and_the_run_ended_killed(mlflow_server: Any, tmp_path: Path) -> None:
    rec, logged = record_offline(mlflow_server.uri, tmp_path / "journal")
    data = rec.journal_path.read_bytes()
    rec.journal_path.write_bytes(data[:-12])  # the crash hit while the end_run line was being written
    result = CliRunner().invoke(app, ["sync", str(rec.journal_path)])
    assert result.exit_code == 1, result.output
    out = words(result.output)
    assert f"bad line {rec.journal_path}:8: torn final record (cut off after" in out
    assert f"it held run {rec.run_key}, op end_run, status FINISHED; not replayed" in out
    assert "its end_run record is torn: the process ended without closing the run; ended KILLED by yololab sync" in out
    run_id = SyncState.load(rec.journal_path).runs[rec.run_key]
    run = run_of(mlflow_server.uri, run_id)
    assert run.info.status == "KILLED" and "ended KILLED by yololab sync" in run.data.tags["yololab.sync_note"]
    assert run.info.end_time == max(r["time_ms"] for r in read_journal(rec.journal_path))
    assert server_history(mlflow_server.uri, run_id) == {k: [(s, logged[s][k]) for s in logged] for k in logged[1]}
    again = sync_journals([rec.journal_path])
    assert (again.sent, again.failed, again.bad, again.journals[0].notes) == (0, 0, 1, [])  # ended once, not again


KILLED_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from yololab.adapters.mlflow_recorder import ExperimentRecorder
    rec = ExperimentRecorder(experiment_name=sys.argv[3], experiment_type="train", tracking_uri=sys.argv[1],
                             journal_dir=sys.argv[2], offline=True, run_name="sigkilled")
    rec.log_metrics({"loss": 1.0}, step=1)
    if sys.argv[4] == "failed":
        rec.set_tags({"yololab.failure_reason": "ValueError: bad input"})
    print(rec.journal_path, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.mark.integration
@pytest.mark.parametrize("outcome", ["killed", "failed"])
def test_process_killed_without_end_run_is_ended_as_the_journal_says(
    mlflow_server: Any, tmp_path: Path, outcome: str
) -> None:
    name = f"sigkill-{uuid.uuid4().hex[:6]}"
    args = [sys.executable, "-c", KILLED_SCRIPT, mlflow_server.uri, str(tmp_path / "journal"), name, outcome]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    journal = Path(proc.stdout.strip())
    report = sync_journals([journal])
    status = outcome.upper()
    assert (report.sent, report.failed, report.bad, report.ok) == (3 if outcome == "failed" else 2, 0, 0, True)
    (note,) = report.journals[0].notes
    assert f"the journal has no end_run record: the process ended without closing the run; ended {status}" in note
    assert run_of(mlflow_server.uri, report.journals[0].runs[journal.stem]).info.status == status


@pytest.mark.integration
def test_journal_of_a_live_run_is_left_alone(mlflow_server: Any, tmp_path: Path) -> None:
    rec = ExperimentRecorder(experiment_name="journal-live", experiment_type="infer", tracking_uri=mlflow_server.uri,
                             journal_dir=tmp_path / "journal", offline=True)  # fmt: skip
    rec.log_metrics({"a": 1.0})
    busy = sync_journals(journal_dir=tmp_path / "journal")
    assert busy.journals[0].busy and busy.sent == 0 and busy.ok
    assert "in use by a running experiment" in busy.journals[0].notes[0]
    rec.end()
    done = sync_journals(journal_dir=tmp_path / "journal")
    assert (done.sent, done.failed) == (3, 0)
    assert run_of(mlflow_server.uri, done.journals[0].runs[rec.run_key]).info.status == "FINISHED"


@pytest.mark.integration
def test_unreadable_state_file_stops_the_replay_of_that_journal(mlflow_server: Any, tmp_path: Path) -> None:
    rec, _ = record_offline(mlflow_server.uri, tmp_path / "journal")
    state_path_of(rec.journal_path).write_text("{not json")
    result = CliRunner().invoke(app, ["sync", str(rec.journal_path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{state_path_of(rec.journal_path)}: replay state unreadable" in words(result.output)
    assert "nothing is sent twice" in words(result.output)
    os.remove(state_path_of(rec.journal_path))
    assert sync_journals([rec.journal_path]).sent == 8


@pytest.mark.integration
def test_child_run_started_before_its_parent_reached_the_server_names_it_after_sync(
    mlflow_server: Any, tmp_path: Path
) -> None:
    options = {"experiment_name": f"nested-{uuid.uuid4().hex[:6]}", "tracking_uri": mlflow_server.uri,
               "journal_dir": tmp_path / "journal", "offline": True}  # fmt: skip
    parent = ExperimentRecorder(experiment_type="infer", run_name="parent", **options)
    child = ExperimentRecorder(experiment_type="infer", run_name="child", tags={"mlflow.parentRunId": parent.run_id},
                               **options)  # fmt: skip
    child.log_metrics({"a": 1.0})
    child.end()
    parent.end()
    assert parent.run_id.startswith("local-")
    report = sync_journals(journal_dir=tmp_path / "journal")
    assert report.ok and report.sent == 5
    runs = report.journals[0].runs | report.journals[1].runs
    parent_id, child_id = runs[parent.run_key], runs[child.run_key]
    assert run_of(mlflow_server.uri, child_id).data.tags["mlflow.parentRunId"] == parent_id

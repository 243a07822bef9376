PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DATA := out/demo-data

.PHONY: install test demo lint bench train-all clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/pytest -q

demo: $(STAMP)
	bash scripts/demo.sh

lint: $(STAMP)
	$(BIN)/ruff check camseg_cli tests benchmarks
	$(BIN)/ruff format --check camseg_cli tests benchmarks

bench: $(STAMP)  # CPU benchmarks; each prints a table and writes out/bench/NAME.json (bench_train.py needs a GPU)
	$(BIN)/python benchmarks/bench_data.py
	$(BIN)/python benchmarks/bench_predict.py
	$(BIN)/python benchmarks/bench_eval.py

clean:
	rm -rf $(VENV) out/* build *.egg-info .pytest_cache .ruff_cache
	touch out/.gitkeep

# Every target that needs the virtualenv builds it first, so a fresh clone needs
# nothing installed by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint typecheck pytest serve bench audio-samples clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rtbatch run jobs/demo.jsonl --emulate -o out/demo-results.jsonl --concurrency 8
	@echo "results: out/demo-results.jsonl"

lint: $(STAMP)
	$(BIN)/ruff check rtbatch tests bench
	$(BIN)/ruff format --check rtbatch tests bench

typecheck: $(STAMP)
	$(BIN)/mypy rtbatch

pytest: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck pytest

serve: $(STAMP)
	$(BIN)/rtbatch serve

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) out .mypy_cache .ruff_cache .pytest_cache

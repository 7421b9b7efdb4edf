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

# A demo writes fresh results each time (a rerun on the same file would skip all).
demo: $(STAMP)
	rm -f out/demo.results.jsonl out/audio.results.jsonl
	$(BIN)/rtbatch run jobs/demo.jsonl --emulate -o out/demo.results.jsonl -c 8
	$(BIN)/rtbatch run jobs/audio.jsonl --emulate -o out/audio.results.jsonl -c 4 --audio-out out/audio
	@echo "results: out/demo.results.jsonl out/audio.results.jsonl (answers in out/audio/)"

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

# Regenerates jobs/audio/*: needs espeak-ng (apt-get install espeak-ng); the tests do not.
audio-samples: $(STAMP)
	$(BIN)/python jobs/audio/make_samples.py

clean:
	rm -rf $(VENV) out .mypy_cache .ruff_cache .pytest_cache

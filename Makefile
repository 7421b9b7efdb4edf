# Every target that needs the virtualenv builds it first, so a fresh clone needs
# nothing installed by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint typecheck pytest serve bench bench-tools audio-samples browser clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# A demo writes fresh results each time (a rerun on the same file would skip all).
demo: $(STAMP)
	rm -f out/demo.results.jsonl out/audio.results.jsonl out/agent.results.jsonl out/checks.results.jsonl out/conversation.results.jsonl
	$(BIN)/rtbatch run jobs/demo.jsonl --emulate -o out/demo.results.jsonl -c 8
	$(BIN)/rtbatch run jobs/audio.jsonl --emulate -o out/audio.results.jsonl -c 4 --audio-out out/audio
	$(BIN)/rtbatch run jobs/agent.jsonl --tools jobs/agent.tools.json --emulate -o out/agent.results.jsonl -c 4
	$(BIN)/rtbatch run jobs/conversation.jsonl --emulate -o out/conversation.results.jsonl -c 4
	# One check fails on purpose (the emulator knows no geography): the summary counts it;
	# --fail-on-check would make it exit 1, as a CI run would.
	$(BIN)/rtbatch run jobs/checks.jsonl --tools jobs/agent.tools.json --emulate -o out/checks.results.jsonl -c 4
	$(BIN)/rtbatch report out/demo.results.jsonl
	$(BIN)/rtbatch report out/audio.results.jsonl
	@echo "results: out/demo.results.jsonl out/audio.results.jsonl out/agent.results.jsonl out/checks.results.jsonl out/conversation.results.jsonl (answers in out/audio/); pages: out/demo.report.html out/audio.report.html"

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

# The audio rows compare with FFmpeg's CLI: Debian's ffmpeg, installed where apt can
# (as root, or with passwordless sudo); elsewhere those rows say why they are missing.
bench: $(STAMP) bench-tools
	$(BIN)/python -m bench

APT := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n) apt-get

bench-tools:
	@command -v ffmpeg >/dev/null || { $(APT) install -y -q ffmpeg || \
	  { $(APT) update -q && $(APT) install -y -q ffmpeg; }; } >/dev/null 2>&1 || \
	  echo "ffmpeg not installed: the FFmpeg CLI rows of make bench are skipped"

# Shards on this machine (docs/scale-out.md): `make -j4 merge-shards` runs SHARDS
# processes, one per shard, then merges their result files into SHARD_OUT. A rerun
# resumes every shard. SHARD_ARGS=... for the real service (OPENAI_API_KEY set).
SHARDS ?= 4
SHARD_JOBS ?= jobs/demo.jsonl
SHARD_OUT ?= out/shards.results.jsonl
SHARD_ARGS ?= --emulate
SHARD_IDS := $(shell seq 0 $$(($(SHARDS) - 1)))
SHARD_FILES := $(foreach k,$(SHARD_IDS),$(SHARD_OUT:.jsonl=.shard-$(k)-of-$(SHARDS).jsonl))

.PHONY: shards merge-shards

shards: $(addprefix shard-,$(SHARD_IDS))

# Not .PHONY: make skips its pattern rules for phony targets. No file is named shard-K.
shard-%: $(STAMP)
	$(BIN)/rtbatch run $(SHARD_JOBS) -o $(SHARD_OUT) --shard $*/$(SHARDS) $(SHARD_ARGS)

merge-shards: shards
	$(BIN)/rtbatch merge $(SHARD_JOBS) $(SHARD_FILES) -o $(SHARD_OUT)

# Regenerates jobs/audio/*: needs espeak-ng (apt-get install espeak-ng); the tests do not.
audio-samples: $(STAMP)
	$(BIN)/python jobs/audio/make_samples.py

# Debian's chromium, with which tests/evals/test_report_browser.py renders a report
# headless (the test skips, saying why, where it is missing). As bench-tools, through
# apt as root or with passwordless sudo; a failure is make's, and .ci/run goes on.
browser:
	command -v chromium >/dev/null || { $(APT) update -qq && $(APT) install -y -qq chromium; }

clean:
	rm -rf $(VENV) out .mypy_cache .ruff_cache .pytest_cache

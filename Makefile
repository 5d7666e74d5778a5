# Two commands on a fresh machine:  `make book`  and  `make test`  (see README.md).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
export JAX_PLATFORMS ?= cpu
# JAX's persistent compilation cache, shared by the book's kernels and the tests: the sweeps and
# tests build the same XLA programs many times over (a new jit per run), and a hit skips the
# compile (tests/test_sweep.py: 162 s without, 95 s with a cold cache on 2 cores).
export JAX_COMPILATION_CACHE_DIR ?= $(CURDIR)/_build/jax_cache
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS ?= 0
export JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES ?= -1

.PHONY: book test lint install bench sync clean smoke

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

book: $(STAMP)
	$(BIN)/python tools/build_book.py
	@echo "Open _build/html/index.html"

# Tests run in parallel processes (pytest-xdist), one per core unless TEST_WORKERS says otherwise.
TEST_WORKERS ?= auto

test: $(STAMP) lint
	bash .ci/system-deps.sh
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

# ruff (pinned in requirements.txt), configured in pyproject.toml: pyflakes and pycodestyle, 120 columns
lint: $(STAMP)
	$(BIN)/ruff check l2lab tests tools

sync: $(STAMP)
	$(BIN)/python tools/chapters.py sync

bench: $(STAMP)
	$(BIN)/python -m l2lab.bench theory
	$(BIN)/python -m l2lab.bench sweep
	$(BIN)/python -m l2lab.bench autol2

# The paper path of the chapters (L2LAB_SCALE=paper L2LAB_SMOKE=1: paper architectures, data formats,
# sharding and figures, a few steps on small batches; a synthetic CIFAR-10 in a temporary
# L2LAB_DATA_DIR), on the CPU. All chapters; `make smoke SMOKE_ARGS=--ci` runs the CI subset.
SMOKE_ARGS ?=

smoke: $(STAMP)
	$(BIN)/python tools/smoke.py $(SMOKE_ARGS)

clean:
	rm -rf _build

# One task list for humans and CI. `make test` installs everything and runs every check.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: help install build-dev format lint typecheck test-rust test-python fuzz test bench bench-load all

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

install: $(PY)  ## the package (Rust core built by maturin, release) and the dev tools, into .venv
	$(PY) -m pip install -q -e ".[dev]"

build-dev: $(PY)  ## rebuild the Rust extension in place after changing Rust code
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/maturin develop --release -q

format:  ## format Python and Rust
	$(BIN)/ruff format python tests benches
	$(BIN)/ruff check --fix python tests benches
	cargo fmt --all
	cargo fmt --manifest-path fuzz/Cargo.toml

lint:  ## ruff, rustfmt, clippy (-D warnings)
	$(BIN)/ruff check python tests benches
	$(BIN)/ruff format --check python tests benches
	cargo fmt --all -- --check
	cargo fmt --manifest-path fuzz/Cargo.toml -- --check
	cargo clippy --workspace --all-targets -- -D warnings

typecheck:  ## mypy --strict on the package, and the hand-written stubs against the built module
	$(BIN)/mypy
	$(PY) -m mypy.stubtest fastgw._core

test-rust:  ## cargo test (gateway_core and the binding crate)
	cargo test --workspace

test-python:  ## pytest: unit, integration and end-to-end (real Granian, real backends)
	@$(PY) -m pytest -q; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests (exit 5): the suite is broken"; fi; \
	exit $$status

FUZZ_SECONDS ?= 10
fuzz:  ## a short run of every cargo fuzz target (FUZZ_SECONDS each, after the build; fuzz/run)
	fuzz/run $(FUZZ_SECONDS)

test: install lint typecheck test-rust test-python fuzz  ## install, then every check CI runs

bench:  ## criterion micro benches (router) and pytest-benchmark boundary benches
	cargo bench -p gateway_core
	$(PY) -m pytest benches -q -p no:randomly --benchmark-only

bench-load:  ## the load benchmark against peer gateways (benches/load/README.md)
	$(PY) -m fastgw.bench

all: test

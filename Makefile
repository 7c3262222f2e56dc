# The two commands of the README: `make demo` and `make test`. Both build .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.kiwi-installed

.PHONY: install demo test lint typecheck unit conformance bench system-deps manifest clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/python scripts/demo.py
	$(BIN)/python scripts/registry_demo.py

system-deps:
	bash scripts/install-system-deps.sh

lint: install
	$(BIN)/ruff check kiwi_mcp kernel primitives registry tests bench scripts
	$(BIN)/ruff format --check kiwi_mcp kernel primitives registry tests bench scripts
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

unit: install system-deps
	$(BIN)/python -m kiwi_mcp.kernel.trust.manifest --check .ai
	$(BIN)/pytest -q --durations=25

conformance: install
	bash scripts/mcp-conformance.sh
	bash scripts/mcp-conformance-client.sh

test: lint typecheck unit conformance

manifest: install
	$(BIN)/python -m kiwi_mcp.kernel.trust.manifest .ai

# Benchmarks report and never gate: a missed target is printed, the exit status stays 0.
bench: install
	@for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || echo "bench: $$f exited $$? (reported, not gating)"; done

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache

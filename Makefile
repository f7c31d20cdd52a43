# One entry point for developers and CI. Every target depends on `install`.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo reference check test proto clean

$(BIN)/tanji: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/tanji

install: $(BIN)/tanji

# The main job: the federated calculation of the shipped example supply chain, one process
# per party on loopback; writes out/demo/result.json and out/demo/state/<party>/.
demo: install
	$(BIN)/tanji demo examples/nmc811-pack --product pack-assembler/PACK-NMC811-80 --out out/demo

# The plaintext reference of the same chain (not private: one process reads every file).
reference: install
	$(BIN)/tanji reference examples/nmc811-pack --product pack-assembler/PACK-NMC811-80

# The gate: lint (ruff), types (mypy) and the layer contracts (import-linter), all configured in
# pyproject.toml. Every step runs, so one report names every finding; any finding fails the target.
check: install
	@status=0; \
	echo "ruff check ."; $(BIN)/ruff check . || status=1; \
	echo "mypy"; $(BIN)/mypy || status=1; \
	echo "lint-imports"; $(BIN)/lint-imports || status=1; \
	exit $$status

# The README's test command: everything but `slow`.
test: install
	$(BIN)/pytest -m 'not slow' -q

proto: install
	$(BIN)/python -m tanji.protogen

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache build *.egg-info

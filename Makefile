# Nexus: the two commands (make run, make test) plus lint. Needs only python3 and make.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint setup clean

$(PY):
	@echo "[nexus] creating $(VENV) with $$($(PYTHON) --version)"
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the dependency list changes.
$(STAMP): pyproject.toml | $(PY)
	@echo "[nexus] installing dependencies into $(VENV) (first time takes a minute)"
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(PY) -m config.run

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# lint-imports checks the import contracts in pyproject.toml. The domain apps are top-level modules
# only because config/ puts platform/ on sys.path at import; import-linter reads files and never runs
# config, so it is shown platform/ (and the checkout) directly.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	PYTHONPATH=platform:. $(VENV)/bin/lint-imports

clean:
	rm -rf var/run var/*.sqlite3*

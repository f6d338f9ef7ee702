# Nexus: the two commands (make run, make test) plus lint. Needs only python3 and make.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The lock: exact versions, with the hash of every file PyPI has for them. make run, make test, make lint
# and CI install dev.txt; the Dockerfile installs base.txt (the runtime part, at the same versions).
# pyproject.toml keeps the ranges (for Nexus used as a library); `make lock` turns them into these files.
LOCK_BASE := requirements/base.txt
LOCK_DEV := requirements/dev.txt

.PHONY: run test lint setup clean lock upgrade

# .venv holds exactly the lock: a changed lock rebuilds it from scratch, so a package dropped from the
# lock does not linger. --require-hashes also refuses anything the lock does not pin.
$(STAMP): $(LOCK_DEV)
	@echo "[nexus] installing $(LOCK_DEV) into a new $(VENV) with $$($(PYTHON) --version) (the first run takes about a minute and a half)"
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK_DEV)
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

# Re-locking (README "Dependencies"). pip-tools is needed only here, in a venv of its own (installed on
# first use; a rebuilt .venv drops it and the next `make lock` installs it again), never to install.
#   make lock                    re-resolve within pyproject's ranges, keeping every pin still allowed
#   make lock UPGRADE=celery     also move these packages (space-separated; `kombu==X.Y.Z` picks a version)
#   make upgrade                 move everything to the newest versions the ranges allow
# The lock is resolved against PyPI alone: a machine's pip config (local mirrors, find-links) is ignored,
# so the hashes are PyPI's, for every file of each version (other platforms, the python:3.11-slim image).
# dev.txt is constrained by base.txt, so the image runs the versions CI tested.
LOCK_TOOLS := $(VENV)/lock-tools
PIP_TOOLS := pip-tools==7.6.2
PIP_COMPILE = env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL -u PIP_CONSTRAINT \
	PIP_CONFIG_FILE=/dev/null CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_TOOLS)/bin/pip-compile --quiet \
	--generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_FLAGS) \
	$(foreach package,$(UPGRADE),--upgrade-package '$(package)')

$(LOCK_TOOLS)/bin/pip-compile:
	$(PYTHON) -m venv $(LOCK_TOOLS)
	$(LOCK_TOOLS)/bin/python -m pip install --quiet '$(PIP_TOOLS)'

lock: $(LOCK_TOOLS)/bin/pip-compile
	@mkdir -p requirements
	$(PIP_COMPILE) -o $(LOCK_BASE) pyproject.toml
	$(PIP_COMPILE) --extra dev -c $(LOCK_BASE) -o $(LOCK_DEV) pyproject.toml
	@echo "[nexus] locked; the next make run/test reinstalls .venv from $(LOCK_DEV)"

upgrade:
	$(MAKE) lock LOCK_FLAGS=--upgrade

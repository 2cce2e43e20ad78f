# Two entry points: `make demo` (install, then run the main job) and `make test`.
# VENV may point outside the checkout (CI caches one keyed by the hash of pyproject.toml).
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PYTEST_ARGS ?= -n auto

.PHONY: install demo test lint

# Third-party dependencies: reinstalled only when pyproject.toml changes.
$(VENV)/.deps-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[models,serve,scale,test]'
	# The trained faces DCGAN; --no-deps because its own requirements pull in wandb/matplotlib.
	$(PIP) install -q --no-deps 'gan-face-generate==1.1.1'
	touch $@

# The project itself is (re)linked every time: the venv may have been built by another checkout.
install: $(VENV)/.deps-installed
	$(PIP) install -q --no-deps --no-build-isolation -e .

demo: install
	PATH="$(abspath $(VENV))/bin:$$PATH" provenant demo

lint: install
	$(VENV)/bin/ruff check provenance generators policies migrations tests benchmarks
	$(VENV)/bin/ruff format --check provenance generators policies migrations tests benchmarks
	$(VENV)/bin/mypy

test: lint
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m pytest $(PYTEST_ARGS)

# The README's two commands: `make demo` (the AutoMix demo on real local models, no API key)
# and `make test` (the test suite). Both create .venv and install what they need on first use.
# `make unit`: the unit tests alone (tests/unit: no model, no model download, no server).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test unit check install models docs

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[local,langchain,llamaindex,plot,server,test,docs]"
	touch $(STAMP)

install: $(STAMP)

models: $(STAMP)
	$(BIN)/automix models install smollm2-135m qwen2.5-coder-0.5b qwen2.5-coder-1.5b

demo: $(STAMP)
	$(BIN)/automix demo

check: $(STAMP)
	$(BIN)/ruff check automix_core automix_langchain automix_llamaindex automix_demo automix_server tests benchmarks examples scripts
	$(BIN)/mypy

PYTEST_ARGS ?=

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit $(PYTEST_ARGS)

test: models
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# the documentation site (docs/, mkdocs.yml) into site/; every warning (a broken link or anchor) is an error
docs: $(STAMP)
	$(BIN)/mkdocs build --strict

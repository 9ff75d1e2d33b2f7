# Muse — `make run` starts the bot, `make test` runs the suite. Both create .venv as needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Installed only when the venv has no torch yet; GPU users may install their own first.
TORCH_SPEC ?= torch==2.13.0
ARGS ?=

.PHONY: run chat test lint bench install install-test example-config clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.torch: | $(PY)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.torch
	$(PY) -m pip install -q -e ".[test]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: install
	$(VENV)/bin/muse run $(ARGS)

chat: install
	$(VENV)/bin/muse chat $(ARGS)

lint: install-test
	$(VENV)/bin/ruff check .

test: install-test lint
	$(VENV)/bin/pytest -q $(ARGS)

bench: install-test
	$(PY) -m bench $(ARGS)

example-config: install
	$(PY) -c "from bot.config import render_example; print(render_example(), end='')" > config.example.toml

clean:
	rm -rf $(VENV) .pytest_cache muse-images

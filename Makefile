# Muse — `make run` starts the bot, `make test` runs the suite. Both create .venv as needed
# and install the exact versions in requirements/*.lock (`make lock` regenerates them).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is installed first and kept out of the locks: the CPU wheel by default, and a GPU
# user's own CUDA build is kept when the venv already has one.
TORCH_SPEC ?= $(strip $(file < requirements/torch.txt))
PIP_SPEC ?= pip==26.3
PIP_TOOLS_SPEC ?= pip-tools==7.6.2
RUN_LOCK := requirements/run.lock
TEST_LOCK := requirements/test.lock
ARGS ?=

.PHONY: run chat test test-latest lint bench lock install install-test example-config clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$(PIP_SPEC)"

$(VENV)/.torch: | $(PY)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	touch $@

# --no-deps: the lock already lists every transitive dependency (with hashes), so pip
# installs exactly that set and never resolves (or upgrades torch) on its own.
$(VENV)/.installed: $(RUN_LOCK) pyproject.toml $(VENV)/.torch
	$(PY) -m pip install -q --no-deps --require-hashes -r $(RUN_LOCK)
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.installed-test: $(TEST_LOCK) pyproject.toml $(VENV)/.torch
	$(PY) -m pip install -q --no-deps --require-hashes -r $(TEST_LOCK)
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
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

# The suite against the newest releases that pyproject allows, in a throwaway venv (not
# CI: CI must be reproducible). Run it before changing a dependency or its bounds. torch is
# TORCH_SPEC's (an open upgrade would pull a multi-GB CUDA build): pass a newer one to try it.
LATEST := $(VENV)-latest
test-latest:
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install -q --upgrade pip
	$(LATEST)/bin/python -m pip install -q "$(TORCH_SPEC)"
	echo "$(TORCH_SPEC)" > $(LATEST)/torch-constraint.txt  # torch stays as TORCH_SPEC says
	$(LATEST)/bin/python -m pip install -q --upgrade --upgrade-strategy eager \
		--constraint $(LATEST)/torch-constraint.txt -e ".[test]"
	$(LATEST)/bin/python -m pip list --format=freeze | grep -iE '^(torch|transformers|diffusers|discord.py|slack.bolt|slack.sdk|accelerate|huggingface.hub|tokenizers)=='
	$(LATEST)/bin/pytest -q $(ARGS)

# Regenerate both locks from pyproject.toml (commit the result on its own). pip-tools gets
# a venv of its own so that it never changes the project's.
TOOLS := $(VENV)-tools
# `make lock LOCK_UPGRADE=` adds what pyproject gained and keeps every other pin.
LOCK_UPGRADE ?= --upgrade
lock:
	test -x $(TOOLS)/bin/pip-compile || ($(PYTHON) -m venv $(TOOLS) && \
		$(TOOLS)/bin/python -m pip install -q "$(PIP_SPEC)" "$(PIP_TOOLS_SPEC)")
	$(TOOLS)/bin/pip-compile -q $(LOCK_UPGRADE) --generate-hashes --strip-extras --build-deps-for editable \
		--unsafe-package torch --constraint requirements/torch.txt --no-emit-find-links \
		--no-emit-index-url --extra test -o $(TEST_LOCK) pyproject.toml
	$(TOOLS)/bin/pip-compile -q $(LOCK_UPGRADE) --generate-hashes --strip-extras --build-deps-for editable \
		--unsafe-package torch --constraint requirements/torch.txt --no-emit-find-links \
		--no-emit-index-url -o $(RUN_LOCK) pyproject.toml

bench: install-test
	$(PY) -m bench $(ARGS)

example-config: install
	$(PY) -c "from bot.config import render_example; print(render_example(), end='')" > config.example.toml

clean:
	rm -rf $(VENV) $(LATEST) $(TOOLS) .pytest_cache muse-images

# reason-lsp: `make demo` and `make test` each set up .venv by themselves.
#
#   make install     the virtualenv and the pretrained model (fetched once into the cache)
#   make test        everything CI runs: all pytest suites, then the VS Code extension
#   make test-fast   the edit-test loop: tests/unit and tests/server (no model
#                    subprocesses, no editors, no torch), a few seconds
#   make test-python all pytest suites (unit, server, e2e, editor, model)
#   make test-engine the openai backend against llama.cpp's llama-server (tests/engine)
#   make test-vscode the extension's unit tests and its end-to-end run in code-server
#
#   MODEL_DEPS   extra pip requirements for the model features.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.reason-lsp-installed
EXTRAS ?= model,train,dev
MODEL_DEPS ?=
PYTEST_ARGS ?= -q

.PHONY: all demo install fetch-model test test-python test-engine test-fast lint format venv clean-venv bench
all: test

$(PY):
	$(PYTHON) -m venv $(VENV)

# Re-installs when pyproject.toml changes. Without CUDA, torch's CPU build first,
# so pip never pulls a multi-GB CUDA wheel for the [model] extra.
$(STAMP): pyproject.toml | $(PY)
	@if ! command -v nvidia-smi >/dev/null 2>&1; then \
		echo "no CUDA here: installing the CPU build of torch"; \
		$(PIP) install torch==2.13.0; \
	fi
	$(PIP) install -e '.[$(EXTRAS)]' $(MODEL_DEPS)
	@touch $@

venv: $(STAMP)

# The pretrained default model, downloaded from the package index and converted once into
# ~/.cache/reason-lsp/models (REASON_LSP_MODEL_CACHE moves it); a no-op when it is there.
# A failed fetch is said in one sentence and the model features run on the tiny model.
fetch-model: $(STAMP)
	-$(PY) -m reason_lsp fetch-model

install: venv fetch-model

demo: $(STAMP) fetch-model
	$(PY) -m reason_lsp.demo

test: test-python test-engine test-vscode

# Offline like CI; one OpenMP thread per process, because the tests run a client, a
# server and a model side by side on 2 cores, where spinning OpenMP threads starve.
# fetch-model first: the pretrained model's tests run when it is in the cache (fetched
# once per machine, kept outside the repository); everything else uses the tiny model.
test-python: $(STAMP) fetch-model
	HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 $(PY) -m pytest $(PYTEST_ARGS) --ignore=tests/engine

# The openai backend against a real engine: llama.cpp's llama-server, built once from
# the llama.cpp sources in llama-cpp-python's sdist into ~/.cache/reason-lsp/llama.cpp
# (6-8 minutes on 2 idle cores; LLAMA_CPP_CACHE moves it), serving our model as GGUF.
test-engine: $(STAMP)
	PIP="$(PIP)" bash scripts/build-llama-server.sh
	HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 $(PY) -m pytest $(PYTEST_ARGS) tests/engine

test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest $(PYTEST_ARGS) tests/unit tests/server

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: $(STAMP)
	$(PY) bench/startup.py
	$(PY) bench/parse.py
	$(PY) bench/completion.py

clean-venv:
	rm -rf $(VENV)

# VS Code extension (vscode-extension/): unit tests, the .vsix, and the end-to-end test
# in code-server driven by headless chromium. Installs chromium, libkrb5-dev and node 24
# itself; screenshots go to artifacts/vscode-e2e/.
.PHONY: test-vscode
test-vscode: $(STAMP)
	bash vscode-extension/scripts/test.sh

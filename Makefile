# One-step setup: a local .venv with the CPU build of torch installed first, so that pip never
# pulls a multi-GB CUDA build, then vaesep itself (editable) with its test tools.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0

.PHONY: setup tts demo test lint clean-venv

$(BIN)/vaesep: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e '.[dev,perceptual]'
	touch $(BIN)/vaesep

setup: $(BIN)/vaesep

# The built-in corpus is synthesized with Debian's espeak-ng and flite.
tts:
	@command -v espeak-ng >/dev/null && command -v flite >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq espeak-ng flite; }

demo: setup tts
	PATH="$(CURDIR)/$(BIN):$$PATH" bash recipes/timit_mf/run.sh

test: setup tts
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check vaesep tests
	$(BIN)/ruff format --check vaesep tests

clean-venv:
	rm -rf $(VENV)

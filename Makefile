# One-step setup: a local .venv with the CPU build of torch installed first, so that pip never
# pulls a multi-GB CUDA build, then vaesep itself (editable) with its test tools.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0

.PHONY: setup tts slurm demo recipe test lint clean-venv docs

$(BIN)/vaesep: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e '.[all,dev]'
	touch $(BIN)/vaesep

setup: $(BIN)/vaesep

# The built-in corpus is synthesized with Debian's espeak-ng and flite.
tts:
	@command -v espeak-ng >/dev/null && command -v flite >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq espeak-ng flite; }

# tests/test_slurm.py brings up a one-node SLURM from Debian's slurm-wlm and munge. Installing
# needs root (or sudo) and apt; when it cannot, that test skips, so this never fails.
slurm:
	@export PATH="$$PATH:/usr/sbin:/sbin"; \
	  command -v sbatch >/dev/null && command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
	  && command -v munged >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	  else echo "make slurm: not root and no sudo; the SLURM test will skip"; exit 0; fi; \
	  command -v apt-get >/dev/null \
	    || { echo "make slurm: no apt-get; the SLURM test will skip"; exit 0; }; \
	  { $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq slurm-wlm munge >/dev/null; } \
	    || echo "make slurm: installing slurm-wlm munge failed; the SLURM test will skip"; }

# The main job in minutes (about 3 on 2 cores): the built-in corpus and its mixtures, one test
# mixture separated by the bundled default model, then the study's VAE, beta-VAE and ITL-AE
# trained and scored beside NMF and the oracle ratio mask (recipes/timit_mf/exp/RESULTS.md).
# `make recipe` runs the whole recipe: every model and baseline (over 30 minutes on 2 cores).
DEMO_MODELS := vae beta_vae itl_ae
DEMO_BASELINES := nmf oracle_irm
RECIPE := PATH="$(CURDIR)/$(BIN):$$PATH" bash recipes/timit_mf/run.sh

demo: setup tts
	$(RECIPE) --stop-stage 1
	$(BIN)/vaesep separate "$$(sed -n '1s/^[^ ]* //p' recipes/timit_mf/data/mixtures/test/wav.scp)" \
	  --out-dir recipes/timit_mf/exp/default_model --force
	$(RECIPE) --stage 2 --models "$(DEMO_MODELS)" --baselines "$(DEMO_BASELINES)"

recipe: setup tts
	$(RECIPE)

test: setup tts slurm
	$(BIN)/python -m pytest -q -n 2 --dist worksteal

lint: setup
	$(BIN)/ruff check vaesep tests benchmarks
	$(BIN)/ruff format --check vaesep tests benchmarks

# The documentation site (mkdocs.yml, docs/) into site/; --strict: any warning fails.
docs: setup
	$(BIN)/python -c 'import material, mkdocstrings_handlers.python' 2>/dev/null \
	  || $(BIN)/python -m pip install -q -e '.[docs]'
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict --site-dir site

clean-venv:
	rm -rf $(VENV)

# Two entry points for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
export HF_HUB_OFFLINE=1
export TRANSFORMERS_OFFLINE=1
export HF_DATASETS_OFFLINE=1
export DVC_NO_ANALYTICS=1
export TOKENIZERS_PARALLELISM=false
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: install run test clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

# The whole pipeline on the shipped data (dvc.yaml): parse -> tag -> train -> evaluate.
run: install
	$(BIN)/dvc repro

test: install
	$(BIN)/python -m pytest tests

clean:
	rm -rf data/parsed data/tagged reports mlruns models/*/ .pytest_cache

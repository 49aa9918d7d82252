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
# Attribute model: one you trained (make train-attributes writes it here) wins over the one this repository
# ships in weights/attributes.pt (found by export's weight lookup); with neither, zero-shot metadata from CLIP.
ATTRIBUTES_CHECKPOINT ?= $(wildcard build/train/attributes/attributes.pt)
export ATTRIBUTES_CHECKPOINT
# Embedder: one you trained (make train-embedder) wins over the shipped weights/embedder.pt; with neither, random.
EMBEDDER_CHECKPOINT ?= $(wildcard build/train/embedder/embedder.pt)
export EMBEDDER_CHECKPOINT
PRODUCTS ?= ../shared/data/fashion_products
# Training on the CPU runs under jemalloc with its freed memory kept (no decay) where the system has it (Debian:
# apt-get install libjemalloc2): glibc's malloc hands each step's large tensors back to the kernel and faults them
# in again (make bench-train-step; BENCHMARKS.md "Training under jemalloc"). Only the torch-only training
# commands: OpenVINO's compile_model aborts under a preloaded allocator. TRAIN_ALLOCATOR= turns it off.
comma := ,
TRAIN_ALLOCATOR ?= $(firstword $(wildcard /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/aarch64-linux-gnu/libjemalloc.so.2 /usr/lib64/libjemalloc.so.2))
TRAIN_MALLOC_CONF := dirty_decay_ms:-1$(comma)muzzy_decay_ms:-1
TRAIN_PY := $(if $(TRAIN_ALLOCATOR),LD_PRELOAD=$(TRAIN_ALLOCATOR) MALLOC_CONF=$(TRAIN_MALLOC_CONF) )$(PY)

.PHONY: setup archives demo-index serve stop test test-unit bench lint clean scale train-attributes evaluate-attributes colour-report \
	image test-image ship-attributes ship-worn train-embedder ship-embedder evaluate-embedder bench-embedder bench-train-step \
	train-segmenter ship-segmenter evaluate-segmenter calibrate-prompt enrich-catalogue evaluate-catalogue bench-catalogue \
	train-worn train-embedder-worn evaluate-worn-retrieval train-worn-heads train-product-heads train-worn-gender calibrate-worn \
	evaluate-worn evaluate-paraphrases

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-nodeps.txt requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt -c requirements.lock
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	touch $@

setup: $(VENV)/.installed

model_store/fashion.war: $(VENV)/.installed $(ATTRIBUTES_CHECKPOINT) $(EMBEDDER_CHECKPOINT) $(wildcard weights/*.pt) $(shell find fashion handlers export -name '*.py' -o -name '*.yaml' -o -name '*.json' 2>/dev/null)
	$(PY) -m export all --out build/export --store model_store

archives: model_store/fashion.war

# A catalogue for the page's similar products: the first DEMO_PHOTOS images of FASHION_CATALOGUE (a folder or a
# table, as `catalogue enrich` reads them; default the shared product photos) enriched in this process and
# indexed, once (one to four minutes on 2 cores; again after the models change). `make serve` builds and serves it unless
# FASHION_INDEX names another index or there is no catalogue (then the page says how to get one).
FASHION_CATALOGUE ?= $(wildcard $(PRODUCTS)/images)
DEMO_PHOTOS ?= 1500
DEMO_INDEX := build/demo/index
demo-index: $(DEMO_INDEX)/index.json

$(DEMO_INDEX)/index.json: model_store/fashion.war
	@test -n "$(FASHION_CATALOGUE)" || { echo "no catalogue: set FASHION_CATALOGUE to a folder of product photos" \
		"(or a CSV/Parquet of id + path/URL), or put the Fashion Product Images data in $(PRODUCTS)"; exit 2; }
	rm -rf build/demo
	$(PY) -m catalogue enrich $(FASHION_CATALOGUE) --engine local --models build/export --batch 8 \
		--limit $(DEMO_PHOTOS) --out build/demo/enriched.parquet
	$(PY) -m catalogue index build/demo/enriched.parquet --out $(DEMO_INDEX)

SERVE_INDEX := $(if $(FASHION_INDEX),,$(if $(FASHION_CATALOGUE),$(DEMO_INDEX)/index.json))
serve: archives $(SERVE_INDEX)
	$(if $(SERVE_INDEX),FASHION_INDEX=$(abspath $(DEMO_INDEX))) $(PY) -m launcher start

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
# limit, the naive alternative and the served pipeline with batching on and off: one table (BENCHMARKS.md); then the
# fixed work around the forwards per stage on street photos with few and many garments (bench.fixed_work); KServe v2
# over REST and gRPC against /predictions/fashion (bench.v2_protocol).
bench: setup
	$(PY) -m bench backends
	$(MAKE) archives
	$(PY) -m bench.precision --write
	$(MAKE) archives
	$(PY) -m bench
	$(PY) -m bench.fixed_work --out build/bench_fixed_work.json
	$(PY) -m bench.v2_protocol

# The first step of the shipped attribute model: five linear heads on the ImageNet EfficientNet-Lite0 trunk from its
# registry package (fashion/nets/pretrained.py), frozen, at 160 px (a linear probe: about 11 min on 2 CPU cores); make
# train-worn then fine-tunes the whole model. TRAIN_ARGS="--resume" continues an interrupted run; without
# --freeze-backbone (ATTRIBUTES_ARGS=) the whole model trains on products alone (about 6 min an epoch).
ATTRIBUTES_ARGS ?= --freeze-backbone --epochs 4 --lr 5e-3
train-attributes: setup
	$(TRAIN_PY) -m training train --csv $(PRODUCTS)/styles.csv --images $(PRODUCTS)/images \
		--out build/train/attributes --report-dir build/train/attributes $(ATTRIBUTES_ARGS) $(TRAIN_ARGS)

# Ship the worn chain's models (what weights/ holds): the refitted heads' attribute model and the embedder on its
# trunk, with their sha256 (checked by the tests); then make archives, train-worn-gender, calibrate-worn.
ship-worn:
	cp build/train/worn-heads/attributes.pt weights/attributes.pt
	cp build/train/embedder-worn/embedder.pt weights/embedder.pt
	cd weights && sha256sum attributes.pt > attributes.pt.sha256 && sha256sum embedder.pt > embedder.pt.sha256 \
		&& cat attributes.pt.sha256 embedder.pt.sha256

# Ship a trained attribute model: weights/attributes.pt (committed) and its sha256 (checked by the tests);
# ATTRIBUTES_FROM=build/train/product-heads/attributes.pt after make train-product-heads.
ATTRIBUTES_FROM ?= build/train/attributes/attributes.pt
ship-attributes:
	cp $(ATTRIBUTES_FROM) weights/attributes.pt
	cd weights && sha256sum attributes.pt > attributes.pt.sha256 && cat attributes.pt.sha256

evaluate-attributes: setup
	$(PY) -m training evaluate --checkpoint $(or $(ATTRIBUTES_CHECKPOINT),weights/attributes.pt) \
		--split reports/attributes_split.csv \
		--csv $(PRODUCTS)/styles.csv --images $(PRODUCTS)/images

# Our own open_clip embedder on (image, caption) pairs from the catalogue: the image trunk from the trained
# attribute model, locked; text tower + projection trained (about 15 min on 2 CPU cores); report in reports/.
# TRAIN_ARGS="--init scratch" trains both towers from random weights; "--resume" continues a run.
train-embedder: setup
	$(TRAIN_PY) -m training embedder --csv $(PRODUCTS)/styles.csv --images $(PRODUCTS)/images \
		--out build/train/embedder --report-dir reports $(TRAIN_ARGS)

# Photos of people (issue 22): the attribute model (make train-attributes' probe, else the shipped one) fine-tuned
# whole on product shots + the street photos' whole images and labelled garment crops, a scene head (about 35 min
# on 2 CPU cores; figures in reports/worn_training.json),
# then the embedder on its trunk with the worn crops (make train-embedder-worn), worn garment -> products P@10 of
# the shipped and the new embedder (make evaluate-worn-retrieval), the gender and articleType heads refitted on the
# frozen trunk (make train-worn-heads, minutes); the outfit gender model fitted on the train photos as served
# (make train-worn-gender, a minute); the served thresholds chosen on the calib photos (make calibrate-worn) and
# the served figures, before and after, on the val photos (make evaluate-worn).
train-worn: setup
	$(TRAIN_PY) -m training worn --csv $(PRODUCTS)/styles.csv --images $(PRODUCTS)/images --out build/train/worn \
		--init $(or $(ATTRIBUTES_CHECKPOINT),weights/attributes.pt) --lr 1e-3 --report-dir reports $(TRAIN_ARGS)

train-embedder-worn: setup
	$(TRAIN_PY) -m training embedder --worn --attributes-checkpoint build/train/worn/attributes.pt \
		--csv $(PRODUCTS)/styles.csv --images $(PRODUCTS)/images --out build/train/embedder-worn \
		--report-dir build/train/embedder-worn $(TRAIN_ARGS)

train-worn-heads: setup
	$(TRAIN_PY) -m training worn-heads --csv $(PRODUCTS)/styles.csv --images $(PRODUCTS)/images \
		--out build/train/worn-heads --report-dir reports $(TRAIN_ARGS)

# The product-only heads (baseColour, season, usage) refitted on the frozen trunk for accuracy, and the subCategory
# head for articleType 'Other' (training/product_heads.py; minutes once OUT/features.pt is cached); then
# make ship-attributes ATTRIBUTES_FROM=build/train/product-heads/attributes.pt and make archives.
train-product-heads: setup
	$(TRAIN_PY) -m training product-heads --csv $(PRODUCTS)/styles.csv --images $(PRODUCTS)/images \
		--out build/train/product-heads --report-dir reports $(TRAIN_ARGS)

train-worn-gender: archives
	$(PY) -m training worn-gender --export build/export --out fashion/worn/worn_gender.json

calibrate-worn: archives
	$(PY) -m bench.worn --calibrate --export build/export --out fashion/worn/worn_calibration.json

evaluate-worn: archives
	$(PY) -m bench.worn --export build/export --out reports/worn.json
	$(PY) -m bench.worn --markdown reports/worn_before.json reports/worn.json --targets pretrained --out reports/worn.md

evaluate-worn-retrieval: setup
	$(PY) -m training worn-retrieval weights/embedder.pt $(wildcard build/train/embedder-worn/embedder.pt) \
		--csv $(PRODUCTS)/styles.csv --images $(PRODUCTS)/images --out reports/worn_retrieval.json

ship-embedder:
	cp build/train/embedder/embedder.pt weights/embedder.pt
	cd weights && sha256sum embedder.pt > embedder.pt.sha256 && cat embedder.pt.sha256

evaluate-embedder: setup
	$(PY) -m training evaluate-embedder --checkpoint $(or $(EMBEDDER_CHECKPOINT),weights/embedder.pt) \
		--csv $(PRODUCTS)/styles.csv --images $(PRODUCTS)/images

# Text search in words no caption uses (reports/paraphrase_queries.csv): the embedder before the pretrained text tower
# (weights/embedder.pt at commit 53c8c30, its own text transformer) beside the shipped one -> reports/paraphrase.md
PARAPHRASE_BEFORE ?= build/embedder-own-text.pt
evaluate-paraphrases: setup
	mkdir -p $(dir $(PARAPHRASE_BEFORE)) && test -f $(PARAPHRASE_BEFORE) || git show 53c8c30:weights/embedder.pt > $(PARAPHRASE_BEFORE)
	$(PY) -m training evaluate-paraphrases $(PARAPHRASE_BEFORE) weights/embedder.pt --csv $(PRODUCTS)/styles.csv \
		--images $(PRODUCTS)/images --out reports/paraphrase.json

# One training step under glibc and under the training allocator (TRAIN_PY's), side by side.
bench-train-step: setup
	TRAIN_ALLOCATOR=$(TRAIN_ALLOCATOR) TRAIN_MALLOC_CONF=$(TRAIN_MALLOC_CONF) $(PY) -m bench.train_step

# Our embedder against ViT-B-32 on the same backends and crops (BENCHMARKS.md, "The embedder").
bench-embedder: setup
	$(PY) -m bench.embedder_speed

# The segmenter from one config (ultralytics; configs/segmenter.yaml); TRAIN_ARGS="--resume" continues a run
# (build/train/segmenter/run/weights/last.pt; a build output, never committed).
train-segmenter: setup
	$(TRAIN_PY) -m training segmenter --config configs/segmenter.yaml $(TRAIN_ARGS)

# The trained segmenter into weights/ (a plain fp16 state dict, no pickle; fashion/nets/segmenter_checkpoint.py), its
# sha256, and its report on the fixed validation split (reports/segmenter.md/.json). Export then serves it by default.
ship-segmenter: setup
	$(PY) -m training ship-segmenter

# Box and mask mAP per class on the fixed validation split: SEGMENTER=path (default: the training run's best, else the
# shared baseline)
SEGMENTER ?= $(firstword $(wildcard build/train/segmenter/run/weights/best.pt) $(wildcard $(WEIGHTS_DIR)/*-seg*.pt))
evaluate-segmenter: setup
	$(PY) -m training evaluate-segmenter --weights $(SEGMENTER) --out build/train/segmenter/evaluation.json

# Garment by words: the prompt threshold on street photos (the exported models; writes fashion/stages/garment_prompt.json
# and reports/garment_prompt.*). Rerun after shipping another segmenter or embedder.
calibrate-prompt: archives
	$(PY) -m training calibrate-prompt --models build/export

# The catalogue job against a running server (`make serve`): every product photo into build/catalogue/, then its
# index (CATALOGUE=folder or table, default the shared product photos).
CATALOGUE ?= ../shared/data/fashion_products/images
enrich-catalogue: setup
	$(PY) -m catalogue enrich $(CATALOGUE) --out build/catalogue/enriched.parquet
	$(PY) -m catalogue index build/catalogue/enriched.parquet --out build/catalogue/index

# Search quality on the real catalogue (after enrich-catalogue): P@10 by articleType, image and text queries.
evaluate-catalogue: setup
	$(PY) -m catalogue evaluate build/catalogue/index --out reports/catalogue_search

# The index on synthetic vectors (100k, 1M) and the enrichment job against the served 8-client figure.
bench-catalogue: setup
	$(PY) -m bench.index_search
	$(PY) -m bench.enrich_throughput

colour-report: setup
	$(PY) -m bench.colour_agreement --csv $(PRODUCTS)/styles.csv --images $(PRODUCTS)/images --out reports

# The container image (podman or docker). The CPU variant takes torch from PyTorch's CPU index when it answers,
# else from PyPI (a CUDA build that also runs on CPUs). Weights baked in: weights/ plus WEIGHTS_DIR's *.pt.
VARIANT ?= cpu
IMAGE ?= fashion-serve:$(VARIANT)
ENGINE ?= $(shell command -v podman || command -v docker)
PULL := $(if $(findstring podman,$(ENGINE)),--pull=never,)
TORCH_INDEX_URL ?= $(shell curl -sf -o /dev/null --max-time 5 https://download.pytorch.org/whl/cpu/torch/ \
	&& echo https://download.pytorch.org/whl/cpu)

# The dependency stage is tagged ($(IMAGE)-deps) so that pruning the layers a build replaced keeps its cache.
IMAGE_ARGS = $(PULL) --build-arg VARIANT=$(VARIANT) --build-arg TORCH_INDEX_URL=$(TORCH_INDEX_URL) \
	--build-arg WEIGHTS=.image-weights --build-arg CALIBRATION=.image-calibration

image: setup
	@test -n "$(ENGINE)" || { echo "no podman or docker: run ../shared/tools/container-engine.sh (as root)"; exit 2; }
	rm -rf .image-weights && mkdir .image-weights && find weights -maxdepth 1 -type f -exec cp {} .image-weights/ \;
	$(if $(WEIGHTS_DIR),cp $(WEIGHTS_DIR)/*.pt .image-weights/ 2>/dev/null || true)
	@echo "baking in: $$(ls .image-weights | grep -v README | tr '\n' ' ')(anything else is random; the export log says which)"
	$(PY) -m export.quantize stage .image-calibration
	@echo "torch index: $(or $(TORCH_INDEX_URL),PyPI)"
	$(ENGINE) image prune -f >/dev/null
	@store=$$($(ENGINE) info -f '{{.Store.GraphRoot}}' 2>/dev/null || $(ENGINE) info -f '{{.DockerRootDir}}' 2>/dev/null); \
	echo "free where images are stored ($${store:-?}): $$(df -h --output=avail "$${store:-/}" 2>/dev/null | tail -1 | tr -d ' ') (a build needs about 12 GB)"
	old=$$($(ENGINE) image inspect -f '{{.Id}}' $(IMAGE) 2>/dev/null || true); \
	$(ENGINE) build $(IMAGE_ARGS) --target deps -t $(IMAGE)-deps . && \
	$(ENGINE) build $(IMAGE_ARGS) -t $(IMAGE) . && \
	new=$$($(ENGINE) image inspect -f '{{.Id}}' $(IMAGE)) && \
	{ if [ -n "$$old" ] && [ "$$old" != "$$new" ]; then $(ENGINE) rmi "$$old" >/dev/null 2>&1 || true; fi; } && \
	$(ENGINE) image prune -f >/dev/null && $(ENGINE) image ls $(IMAGE)

# Starts the image as Vertex AI does (AIP_* routes, with and without AIP_STORAGE_URI, read-only root, non-root)
test-image: setup
	FASHION_IMAGE=$(IMAGE) CONTAINER_ENGINE=$(ENGINE) $(PY) -m pytest tests/image

lint: setup
	$(VENV)/bin/ruff check fashion handlers export launcher bench training client catalogue tests
	$(VENV)/bin/hadolint Dockerfile

clean:
	rm -rf build model_store logs

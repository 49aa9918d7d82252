# The fashion pipeline behind its front door; one image per variant, archives built at image build time.
#   make image                      # VARIANT=cpu|cuda, weights from weights/ and WEIGHTS_DIR, old image removed
#   docker build -t fashion-serve:cpu .                          # CPU: torch from TORCH_INDEX_URL (PyTorch's CPU index)
#   docker build --build-arg VARIANT=cuda -t fashion-serve:gpu .  # GPU: PyPI's CUDA torch (brings CUDA 12/13)
#   docker run --rm -p 8080:8080 fashion-serve:cpu               # GPU: add --gpus all
# The start command is the front door (python -m launcher serve): TorchServe's /predictions/* and /wfpredict/*,
# the Vertex AI routes ($AIP_PREDICT_ROUTE, default /predict; $AIP_HEALTH_ROUTE, default /health) on
# $AIP_HTTP_PORT (8080); TorchServe itself, management and metrics stay on the container's loopback.
# Runs as uid 10001 and with a read-only root filesystem (writes go to /tmp: mount a tmpfs there).
ARG VARIANT=cpu
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- base: Python plus the shared libraries OpenCV (from ultralytics) loads in every stage that imports it ----
FROM ${PYTHON_IMAGE} AS base
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 libxcb1 \
    && rm -rf /var/lib/apt/lists/*

# ---- dependencies: a virtualenv copied whole into the runtime stage ----
FROM base AS deps
ARG VARIANT
# CPU variant: torch/torchvision from this index (CPU wheels, ~2 GB smaller); empty: PyPI's (CUDA) build.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_DEFAULT_TIMEOUT=180
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /build
COPY requirements.txt requirements-nodeps.txt requirements.lock ./
RUN if [ "$VARIANT" = "cpu" ] && [ -n "$TORCH_INDEX_URL" ]; then \
        pip install --index-url "$TORCH_INDEX_URL" torch==2.14.1 torchvision==0.29.1; \
    fi \
    && pip install -r requirements.txt -c requirements.lock \
    && pip install --no-deps -r requirements-nodeps.txt

# ---- archives: export the three models and pack them (needs the code and the weights to bake in) ----
FROM deps AS archives
ARG VARIANT
# A folder of weights (make image stages weights/ plus WEIGHTS_DIR's *.pt into .image-weights); missing ones
# are random, and the export log below says so model by model.
ARG WEIGHTS=weights
# int8 calibration photos (make image stages training-split photos into .image-calibration); the default folder
# holds none, and then each int8 model exports in its fallback precision (export/backends.json, logged).
ARG CALIBRATION=deploy/calibration
WORKDIR /app
COPY fashion ./fashion
COPY handlers ./handlers
COPY export ./export
COPY training ./training
COPY ${WEIGHTS} ./weights
COPY ${CALIBRATION} ./calibration
COPY reports/segmenter_split.csv reports/attributes_split.csv ./reports/
# cpu: each model on the backend export/backends.json chose (BENCHMARKS.md); cuda: TorchScript, fp16 where it passes parity
RUN YOLO_CONFIG_DIR=/tmp/ultralytics python -m export all --out /tmp/export \
        --store /app/model_store --weights-dir weights --calibration-data calibration \
        --target "$([ "$VARIANT" = cuda ] && echo cuda || echo cpu)" \
    && rm -rf /tmp/export

# ---- runtime: built on deps, so the virtualenv's layer is shared, not copied (a copy doubles the disk a build needs) ----
FROM deps AS runtime
ARG VARIANT
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    TMPDIR=/tmp \
    YOLO_CONFIG_DIR=/tmp/ultralytics \
    FASHION_HOST=0.0.0.0 \
    FASHION_VARIANT=${VARIANT} \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
# Java 17 runs TorchServe's frontend; tini reaps the JVM's orphans and forwards signals; curl for HEALTHCHECK.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless tini curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --no-create-home --uid 10001 serve
WORKDIR /app
COPY fashion ./fashion
COPY handlers ./handlers
COPY launcher ./launcher
COPY client ./client
COPY catalogue ./catalogue
COPY config.properties ./
COPY --from=archives /app/model_store ./model_store
USER 10001
# 8080: the front door (REST: TorchServe's, Vertex AI's and KServe v2's routes); 8001: KServe v2 over gRPC
# (FASHION_GRPC_PORT; FASHION_GRPC_PORT=off turns it off)
EXPOSE 8080 8001
HEALTHCHECK --interval=30s --timeout=10s --start-period=300s --retries=3 \
    CMD ["sh", "-c", "curl -fsS http://127.0.0.1:${AIP_HTTP_PORT:-8080}${AIP_HEALTH_ROUTE:-/health}"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["python", "-m", "launcher", "serve", "--logs", "/tmp/logs"]

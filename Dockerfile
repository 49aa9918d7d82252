# TorchServe fashion pipeline; one image per variant, archives built at image build time (hub weights when
# the build has network, else files in weights/, else random weights flagged in every response).
#   docker build -t fashion-serve:cpu .                         # CPU: torch from PyTorch's CPU index (small)
#   docker build --build-arg VARIANT=cuda -t fashion-serve:gpu .  # GPU: PyPI's CUDA torch (brings CUDA 12/13)
#   docker run --rm -p 8080:8080 fashion-serve:cpu               # GPU: add --gpus all
# The start command is the Vertex AI entrypoint: predictions on $AIP_PREDICT_ROUTE (default /predict), health
# on $AIP_HEALTH_ROUTE (/health), TorchServe's /predictions/* and /wfpredict/fashion passed through; all of
# TorchServe's own APIs (management, metrics) stay on the container's loopback.
ARG VARIANT=cpu
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- dependencies: a virtualenv copied whole into the runtime stage ----
FROM ${PYTHON_IMAGE} AS deps
ARG VARIANT
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /build
COPY requirements.txt requirements.lock ./
# CPU: the CPU wheels of the same torch/torchvision versions (no CUDA libraries, ~2 GB smaller).
RUN if [ "$VARIANT" = "cpu" ]; then \
        pip install --index-url https://download.pytorch.org/whl/cpu torch==2.14.1 torchvision==0.29.1; \
    fi \
    && pip install -r requirements.txt -c requirements.lock

# ---- archives: export the three models and pack them (needs the code and any local weights) ----
FROM deps AS archives
ARG VARIANT
WORKDIR /app
COPY fashion ./fashion
COPY handlers ./handlers
COPY export ./export
COPY training ./training
COPY weights ./weights
# cpu: each model on the backend export/backends.json chose (BENCHMARKS.md); cuda: TorchScript, fp16 where it passes parity
RUN YOLO_CONFIG_DIR=/tmp/ultralytics python -m export all --out /tmp/export --store /app/model_store \
        --weights-dir weights --target "$([ "$VARIANT" = cuda ] && echo cuda || echo cpu)"

# ---- runtime ----
FROM ${PYTHON_IMAGE} AS runtime
ARG VARIANT
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    HOME=/home/serve \
    FASHION_VARIANT=${VARIANT} \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
# Java 17 runs TorchServe's frontend; libgl1/libglib2.0-0 are what OpenCV (from ultralytics) loads.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless libgl1 libglib2.0-0 curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 serve
COPY --from=deps /opt/venv /opt/venv
WORKDIR /app
COPY --chown=serve:serve fashion ./fashion
COPY --chown=serve:serve handlers ./handlers
COPY --chown=serve:serve launcher ./launcher
COPY --chown=serve:serve client ./client
COPY --chown=serve:serve config.properties ./
COPY --from=archives --chown=serve:serve /app/model_store ./model_store
USER 10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=300s --retries=3 \
    CMD ["sh", "-c", "curl -fsS http://127.0.0.1:${AIP_HTTP_PORT:-8080}${AIP_HEALTH_ROUTE:-/health}"]
CMD ["python", "-m", "launcher", "vertex"]

# TorchServe fashion pipeline. Archives are built at image build time (hub weights when the build has
# network, else files in weights/, else random weights flagged in every response).
#   docker build -t fashion-serve .
#   docker run --rm -p 8080:8080 fashion-serve
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/home/serve

# Java 17 runs TorchServe's frontend; libgl1/libglib2.0-0 are what OpenCV (from ultralytics) loads.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless libgl1 libglib2.0-0 curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 serve

WORKDIR /app
COPY requirements.txt requirements.lock ./
RUN pip install --no-cache-dir -r requirements.txt -c requirements.lock

COPY --chown=serve:serve fashion ./fashion
COPY --chown=serve:serve handlers ./handlers
COPY --chown=serve:serve export ./export
COPY --chown=serve:serve launcher ./launcher
COPY --chown=serve:serve weights ./weights
COPY --chown=serve:serve config.properties ./

USER 10001
RUN python -m export all --out build/export --store model_store --weights-dir weights \
    && rm -rf build/archive

# Inference only; management (8081) and metrics (8082) stay on the container's loopback.
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=300s --retries=3 \
    CMD ["curl", "-fsS", "http://127.0.0.1:8080/ping"]
CMD ["python", "-m", "launcher", "serve", "--inference-address", "http://0.0.0.0:8080"]

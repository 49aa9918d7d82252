"""The front door's settings, read once from the environment into a frozen object (nothing read at import)."""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Mapping

from fashion import models as registry
from fashion.request.limits import VERTEX_REQUEST_BYTES, limits
from fashion.threads import available_cores

# Served images per second per CPU core through the whole pipeline under overload (python -m bench.frontdoor:
# 2.76-2.96 img/s on 2 cores, 8 street photos, 32 clients; BENCHMARKS.md). Only the default in-flight bound
# comes from it; GPUs set FASHION_MAX_INFLIGHT from their own figure.
IMAGES_PER_CORE_S = 1.4


DEFAULT_GRPC_PORT = 8001  # KServe's and Triton's gRPC port (8081 is TorchServe's management API on loopback)


@dataclasses.dataclass(frozen=True)
class FrontDoorSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    predict_route: str = "/predict"  # Vertex AI's AIP_PREDICT_ROUTE
    health_route: str = "/health"  # Vertex AI's AIP_HEALTH_ROUTE; readiness everywhere else too
    predict_target: str = registry.ENSEMBLE_PATH  # what the predict route calls (or /wfpredict/fashion)
    storage_uri: str | None = None  # AIP_STORAGE_URI: where the archives come from (else the image's own)
    index_dir: str | None = None  # FASHION_INDEX: the catalogue index /search answers from (else AIP_STORAGE_URI/index)
    # MAX_REQUEST_BYTES (fashion.request.limits), also TorchServe's max_request_size
    # (launcher.torchserve.served_settings)
    max_request_bytes: int = dataclasses.field(default_factory=lambda: limits().max_request_bytes)
    predict_route_max_bytes: int = VERTEX_REQUEST_BYTES  # 0 = no extra limit (dedicated endpoints)
    latency_budget_s: float = 5.0  # queueing a request may add at most this; past it, a fast 503
    max_inflight: int = 16  # per endpoint (TorchServe model or workflow); see default_inflight()
    upstream_timeout_s: float = 120.0
    drain_s: float = 6.0  # on SIGTERM: how long in-flight requests may finish before TorchServe stops
    grpc_port: int | None = None  # FASHION_GRPC_PORT: the KServe v2 gRPC endpoint (launcher/v2_grpc.py); None = off

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "FrontDoorSettings":
        env = os.environ if env is None else env
        budget = float(env.get("FASHION_LATENCY_BUDGET_S", cls.latency_budget_s))
        inflight = env.get("FASHION_MAX_INFLIGHT", "")
        return cls(
            host=env.get("FASHION_HOST", "0.0.0.0" if "AIP_HTTP_PORT" in env else cls.host),
            port=int(env.get("AIP_HTTP_PORT") or env.get("FASHION_PORT") or cls.port),
            predict_route=env.get("AIP_PREDICT_ROUTE") or cls.predict_route,
            health_route=env.get("AIP_HEALTH_ROUTE") or cls.health_route,
            predict_target=env.get("FASHION_PREDICT_TARGET") or env.get("FASHION_VERTEX_TARGET") or cls.predict_target,
            storage_uri=env.get("AIP_STORAGE_URI") or None,
            index_dir=env.get("FASHION_INDEX") or None,
            max_request_bytes=limits().max_request_bytes,
            predict_route_max_bytes=int(env.get("FASHION_PREDICT_MAX_BYTES",
                                                env.get("FASHION_VERTEX_MAX_REQUEST_BYTES", VERTEX_REQUEST_BYTES))),
            latency_budget_s=budget,
            max_inflight=int(inflight) if inflight else default_inflight(budget, available_cores(env)),
            upstream_timeout_s=float(env.get("FASHION_UPSTREAM_TIMEOUT_S", cls.upstream_timeout_s)),
            drain_s=float(env.get("FASHION_DRAIN_S", cls.drain_s)),
            grpc_port=grpc_port(env.get("FASHION_GRPC_PORT", str(DEFAULT_GRPC_PORT))))


def grpc_port(value: str) -> int | None:
    """FASHION_GRPC_PORT: a port number, or off / 0 / empty for no gRPC endpoint."""
    value = value.strip().lower()
    if value in ("", "0", "off", "false", "no"):
        return None
    port = int(value) if value.isdigit() else -1
    if not 0 < port < 65536:
        raise ValueError(f"FASHION_GRPC_PORT={value!r} is not a port; give 1-65535, or off")
    return port


def default_inflight(budget_s: float, cores: int) -> int:
    """Little's law: the requests an endpoint can hold and still answer within the budget (at least 2)."""
    return max(2, math.floor(IMAGES_PER_CORE_S * cores * budget_s))

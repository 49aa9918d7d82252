"""The Vertex AI custom-container entrypoint: `python -m launcher vertex` (the Docker image's CMD).

Vertex sends predictions to AIP_PREDICT_ROUTE and health checks to AIP_HEALTH_ROUTE on AIP_HTTP_PORT. A
minimal adapter listens there and forwards to TorchServe, which runs with every API on loopback:
- any route names work (TorchServe can only serve its own paths: /predictions/<model>, /ping);
- health answers 200 only once the pipeline really answers (TorchServe's /ping is healthy before the
  workflow is registered), and 503 again if TorchServe stops answering;
- requests over Vertex's 1.5 MB shared-endpoint limit get a clear 413 that says to resize or use a
  dedicated endpoint (FASHION_VERTEX_MAX_REQUEST_BYTES; 0 turns the check off for dedicated endpoints).
The body and the answer pass through unchanged: {"instances": [...], "parameters": {...}} in,
{"predictions": [...]} out (fashion.codec). TorchServe's /predictions/<model> and /wfpredict/fashion pass
through too, so the same entrypoint serves Kubernetes. The hop's cost is measured by bench.vertex_hop.

AIP_STORAGE_URI, when set, is where the archives are copied from (a local folder, or gs:// with the gcloud
CLI in the image); otherwise the image's own model_store is served.
"""
from __future__ import annotations

import dataclasses
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from fashion.errors import NotReady, PayloadTooLarge
from fashion.samples import synthetic_jpeg
from launcher import torchserve as ts

PASSTHROUGH = ("/predictions/", "/wfpredict/")  # also served, unchanged (Kubernetes clients use them)
SHARED_ENDPOINT_LIMIT = 1_572_864  # Vertex AI's public shared endpoints refuse larger requests
HEALTH_CACHE_S = 5.0


@dataclasses.dataclass(frozen=True)
class VertexConfig:
    port: int = 8080
    predict_route: str = "/predict"
    health_route: str = "/health"
    storage_uri: str | None = None
    target: str = "/predictions/fashion"  # or /wfpredict/fashion
    max_request_bytes: int = SHARED_ENDPOINT_LIMIT

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "VertexConfig":
        env = dict(os.environ if env is None else env)
        return cls(port=int(env.get("AIP_HTTP_PORT", "8080")),
                   predict_route=env.get("AIP_PREDICT_ROUTE", "/predict"),
                   health_route=env.get("AIP_HEALTH_ROUTE", "/health"),
                   storage_uri=env.get("AIP_STORAGE_URI") or None,
                   target=env.get("FASHION_VERTEX_TARGET", "/predictions/fashion"),
                   max_request_bytes=int(env.get("FASHION_VERTEX_MAX_REQUEST_BYTES", SHARED_ENDPOINT_LIMIT)))


def fetch_archives(uri: str, store: Path) -> Path:
    """Copy *.mar and *.war from AIP_STORAGE_URI (a folder, or gs:// via the gcloud CLI) into store."""
    store.mkdir(parents=True, exist_ok=True)
    if uri.startswith("gs://"):
        gcloud = shutil.which("gcloud")
        if gcloud is None:
            raise RuntimeError("AIP_STORAGE_URI is a gs:// URI but the gcloud CLI is not in this image; "
                               "bake the archives into the image instead (the default)")
        subprocess.run([gcloud, "storage", "cp", f"{uri.rstrip('/')}/*.[mw]ar", str(store)], check=True)
    else:
        for f in Path(uri).glob("*.[mw]ar"):
            shutil.copy2(f, store / f.name)
    return store


def _json(handler: http.server.BaseHTTPRequestHandler, status: int, payload: dict) -> None:
    body = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class Adapter(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, cfg: VertexConfig, inference: str) -> None:
        super().__init__(("0.0.0.0", cfg.port), _Routes)
        self.cfg, self.inference = cfg, inference
        self.client = httpx.Client(timeout=300, limits=httpx.Limits(max_keepalive_connections=32))
        self.ready = threading.Event()
        self._checked, self._healthy = 0.0, False

    def healthy(self) -> bool:
        if not self.ready.is_set():
            return False
        if time.monotonic() - self._checked > HEALTH_CACHE_S:
            self._healthy = ts.pings(self.inference)
            self._checked = time.monotonic()
        return self._healthy


class _Routes(http.server.BaseHTTPRequestHandler):
    server: Adapter
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        if self.path.split("?")[0] != self.server.cfg.health_route:
            return _json(self, 404, {"error": {"code": 404, "message": f"unknown route {self.path}"}})
        if self.server.healthy():
            return _json(self, 200, {"status": "ready"})
        return _json(self, 503, {"error": {"code": 503, "type": "NotReady",
                                           "message": "the models are loading; retry shortly"}})

    def do_POST(self) -> None:  # noqa: N802
        cfg = self.server.cfg
        path = self.path.split("?")[0]
        length = int(self.headers.get("Content-Length") or 0)
        if path.startswith(PASSTHROUGH) and path != cfg.predict_route:  # TorchServe's own inference API
            return self._forward(path, self.rfile.read(length))
        if path != cfg.predict_route:
            return _json(self, 404, {"error": {"code": 404, "message": f"unknown route {self.path}; "
                                                                      f"predictions go to {cfg.predict_route}"}})
        if cfg.max_request_bytes and length > cfg.max_request_bytes:
            self.rfile.read(length)  # drain, so the connection stays usable
            return _json(self, 413, PayloadTooLarge(
                f"the request is {length} bytes; Vertex AI shared endpoints accept at most {cfg.max_request_bytes}. "
                "Resize the images before sending (`python -m client --max-bytes ...` does it) or deploy to a "
                "dedicated endpoint and set FASHION_VERTEX_MAX_REQUEST_BYTES=0").to_dict())
        if not self.server.ready.is_set():
            return _json(self, 503, NotReady("the models are loading").to_dict())
        self._forward(cfg.target, self.rfile.read(length))

    def _forward(self, path: str, body: bytes) -> None:
        try:
            r = self.server.client.post(f"{self.server.inference}{path}", content=body, headers={
                "Content-Type": self.headers.get("Content-Type", "application/json")})
        except httpx.HTTPError as exc:
            return _json(self, 503, NotReady(f"the model server did not answer ({type(exc).__name__})").to_dict())
        self.send_response(r.status_code)
        self.send_header("Content-Type", r.headers.get("content-type", "application/json"))
        self.send_header("Content-Length", str(len(r.content)))
        self.end_headers()
        self.wfile.write(r.content)


def run(config: Path, store: Path, logs: Path, timeout: float = 900) -> int:
    """Start TorchServe on loopback, the adapter on AIP_HTTP_PORT; exit when TorchServe exits or on SIGTERM."""
    cfg = VertexConfig.from_env()
    workdir = Path(tempfile.mkdtemp(prefix="fashion-vertex-"))
    if cfg.storage_uri:
        store = fetch_archives(cfg.storage_uri, workdir / "model_store")
    inference = f"http://127.0.0.1:{ts.free_port()}"
    derived = ts.derive_config(config, workdir / "config.properties", {
        "inference_address": inference, "model_store": str(store.resolve()),
        "workflow_store": str(store.resolve())})
    management = ts.read_config(derived)["management_address"].strip()
    proc = ts.start(derived, store, logs, foreground=True, console=True, cwd=workdir)
    adapter = Adapter(cfg, inference)
    threading.Thread(target=adapter.serve_forever, daemon=True).start()
    print(f"Vertex adapter on :{cfg.port} (predict {cfg.predict_route}, health {cfg.health_route}) -> "
          f"TorchServe {inference}{cfg.target}", flush=True)

    def shutdown(*_: object) -> None:
        adapter.ready.clear()
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, shutdown)
    try:
        ts.wait_until(lambda: ts.models_ready(management, ts.SERVED_MODELS),
                      timeout, "the models")
        ts.register_workflow(management)
        for path in {cfg.target, "/wfpredict/fashion"}:
            ts.wait_until(lambda p=path: ts.answers(inference, p, synthetic_jpeg()), timeout, path)
    except Exception as exc:
        print(f"start-up failed: {exc}", file=sys.stderr)
        shutdown()
        proc.wait()
        return 1
    adapter.ready.set()
    print("ready", flush=True)
    code = proc.wait()
    adapter.shutdown()
    return code

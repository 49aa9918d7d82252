"""A real TorchServe, started from the built model_store with this repository's config on spare ports, and a
local image host for URL inputs (on 127.0.0.2, the only private address the server may fetch from)."""
from __future__ import annotations

import http.server
import os
import threading
from pathlib import Path

import httpx
import pytest

from fashion.samples import synthetic_jpeg
from launcher import torchserve as ts
from launcher.__main__ import MODELS
from tests.conftest import ROOT, STORE, STREET

IMAGE_HOST = "127.0.0.2"


class Server:
    def __init__(self, inference: str, management: str, metrics: str, logs: str, image_host: str) -> None:
        self.inference, self.management, self.metrics, self.logs = inference, management, metrics, Path(logs)
        self.image_host = image_host
        self.http = httpx.Client(timeout=180)

    def post(self, path: str, **kwargs) -> httpx.Response:
        return self.http.post(f"{self.inference}{path}", **kwargs)

    def worker_pids(self) -> dict[str, list[int]]:
        """Every registered model (workflow nodes included) -> its workers' process ids."""
        models = self.http.get(f"{self.management}/models").json()["models"]
        return {m["modelName"]: sorted(w["pid"] for w in self.http.get(
            f"{self.management}/models/{m['modelName']}").json()[0]["workers"]) for m in models}


class _Images(http.server.BaseHTTPRequestHandler):
    photo = b""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        redirects = {"/to-metadata": "http://169.254.169.254/latest/meta-data/",
                     "/to-loopback": f"http://127.0.0.1:{self.server.server_address[1]}/photo.jpg"}
        if self.path in redirects:
            self.send_response(302)
            self.send_header("Location", redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/photo.jpg":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(self.photo)))
            self.end_headers()
            self.wfile.write(self.photo)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()


@pytest.fixture(scope="session")
def image_host() -> str:
    _Images.photo = (STREET / "0005.jpg").read_bytes()
    srv = http.server.ThreadingHTTPServer((IMAGE_HOST, 0), _Images)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://{IMAGE_HOST}:{srv.server_address[1]}"
    srv.shutdown()


@pytest.fixture(scope="session")
def server(tmp_path_factory, image_host) -> Server:
    if not (STORE / "fashion.war").is_file():
        pytest.fail("model_store has no archives: run `make archives` (make test does)")
    workdir = tmp_path_factory.mktemp("torchserve")
    url_env = {"FASHION_URL_INPUT": "on", "FASHION_URL_ALLOW_NETWORKS": f"{IMAGE_HOST}/32",
               "FASHION_URL_PORTS": f"80,443,{image_host.rsplit(':', 1)[1]}"}
    saved = {k: os.environ.get(k) for k in url_env}
    os.environ.update(url_env)  # the workers inherit it
    try:
        with ts.temporary_server(ROOT / "config.properties", STORE, workdir, MODELS, synthetic_jpeg()) as urls:
            yield Server(urls["inference"], urls["management"], urls["metrics"], urls["logs"], image_host)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

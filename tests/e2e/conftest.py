"""The front door with a real TorchServe behind it, started from the built model_store with this repository's
config on spare ports, as Vertex AI starts it, and a local image host for URL inputs (on 127.0.0.2, the only
private address the server may fetch from). Every e2e request goes through the front door."""
from __future__ import annotations

import contextlib
import http.server
import threading
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from launcher.spawned import spawned_front_door
from tests.conftest import EXPORT_DIR, PRODUCTS, STORE, STREET

IMAGE_HOST = "127.0.0.2"
PREDICT_ROUTE, HEALTH_ROUTE = "/v1/endpoints/fashion/deployedModels/m1:predict", "/v1/health"


class Server:
    """The front door (`python -m launcher serve`) and the TorchServe behind it."""

    def __init__(self, inference: str, management: str, metrics: str, logs: str, image_host: str,
                 torchserve: str, health: str, predict: str) -> None:
        self.inference, self.management, self.metrics, self.logs = inference, management, metrics, Path(logs)
        self.image_host, self.torchserve, self.health, self.predict = image_host, torchserve, health, predict
        self.health_seen: list[int | None] = []  # what the health route answered while it started
        self.grpc: str | None = None  # the KServe v2 gRPC endpoint, host:port
        self.http = httpx.Client(timeout=180)

    def post(self, path: str, **kwargs) -> httpx.Response:
        return self.http.post(f"{self.inference}{path}", **kwargs)

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.http.get(f"{self.inference}{path}", **kwargs)

    def worker_pids(self) -> dict[str, list[int]]:
        """Every registered model (workflow nodes included) -> its workers' process ids."""
        models = self.http.get(f"{self.management}/models").json()["models"]
        return {m["modelName"]: sorted(w["pid"] for w in self.http.get(
            f"{self.management}/models/{m['modelName']}").json()[0]["workers"]) for m in models}


@contextlib.contextmanager
def front_door(workdir: Path, env: dict[str, str] | None = None, store: Path = STORE) -> Iterator[dict]:
    """The front door as Vertex AI starts it (AIP_* routes that are not the defaults), bound to loopback."""
    env = {"AIP_HTTP_PORT": "0", "AIP_PREDICT_ROUTE": PREDICT_ROUTE, "AIP_HEALTH_ROUTE": HEALTH_ROUTE, **(env or {})}
    try:
        with spawned_front_door(workdir, env, store=store) as urls:
            yield urls
    except RuntimeError as exc:
        pytest.fail(str(exc))


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


INDEXED_PRODUCTS = 24


@pytest.fixture(scope="session")
def catalogue_index(tmp_path_factory) -> Path:
    """A small catalogue index (product photos enriched in-process with the exported models) for /search."""
    from catalogue.engines import LocalEngine
    from catalogue.enrich import Job
    from catalogue.index import CatalogueIndex
    from catalogue.rows import embedding_dim
    from catalogue.sources import Record
    from catalogue.store import Journal

    photos = sorted(PRODUCTS.glob("*.jpg"))[::100][:INDEXED_PRODUCTS]
    folder = tmp_path_factory.mktemp("catalogue")
    journal = Journal(folder / "enriched.parquet")
    Job(LocalEngine(EXPORT_DIR), journal, {}, batch=8, concurrency=1).run([Record(p.stem, str(p)) for p in photos])
    journal.finish()
    rows = journal.previous + journal.rows
    index = CatalogueIndex.open_or_create(folder / "index", embedding_dim(rows), None)
    index.add_rows(rows)
    return index.save()


@pytest.fixture(scope="session")
def server(tmp_path_factory, image_host, catalogue_index) -> Server:
    if not (STORE / "fashion.war").is_file():
        pytest.fail("model_store has no archives: run `make archives` (make test does)")
    url_env = {"FASHION_URL_INPUT": "on", "FASHION_URL_ALLOW_NETWORKS": f"{IMAGE_HOST}/32",
               "FASHION_URL_PORTS": f"80,443,{image_host.rsplit(':', 1)[1]}", "FASHION_INDEX": str(catalogue_index)}
    with front_door(tmp_path_factory.mktemp("frontdoor"), url_env) as urls:
        srv = Server(urls["front"], urls["management"], urls["metrics"], urls["logs"], image_host,
                     urls["inference"], urls["front"] + HEALTH_ROUTE, urls["front"] + PREDICT_ROUTE)
        srv.health_seen = urls["health_seen"]
        srv.grpc = urls["grpc"]
        yield srv

"""A real TorchServe, started from the built model_store with this repository's config on spare ports."""
from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from launcher import torchserve as ts
from fashion.samples import synthetic_jpeg
from launcher.__main__ import MODELS
from tests.conftest import ROOT, STORE


class Server:
    def __init__(self, inference: str, management: str, metrics: str, logs: str) -> None:
        self.inference, self.management, self.metrics, self.logs = inference, management, metrics, Path(logs)
        self.http = httpx.Client(timeout=180)

    def post(self, path: str, **kwargs) -> httpx.Response:
        return self.http.post(f"{self.inference}{path}", **kwargs)


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    if not (STORE / "fashion.war").is_file():
        pytest.fail("model_store has no archives: run `make archives` (make test does)")
    workdir = tmp_path_factory.mktemp("torchserve")
    with ts.temporary_server(ROOT / "config.properties", STORE, workdir, MODELS, synthetic_jpeg()) as urls:
        yield Server(urls["inference"], urls["management"], urls["metrics"], urls["logs"])

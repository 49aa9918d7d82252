"""A real front door server (uvicorn with the guarded protocol, on a spare loopback port) in front of a fake
TorchServe (httpx.MockTransport answering as TorchServe does, its refusals in TorchServe's own shape), with short
deadlines so the slow-client tests take seconds."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
from typing import Iterator

import httpx
import pytest
import uvicorn

from fashion.request.limits import Limits
from launcher import torchserve as ts
from launcher.frontdoor import build_app
from launcher.http_server import server_config
from launcher.routes import PUBLIC_MODELS, PUBLIC_WORKFLOWS
from launcher.settings import FrontDoorSettings

BOUNDS = dataclasses.replace(Limits(), header_timeout_s=1.0, body_timeout_s=1.5)
SETTINGS = FrontDoorSettings(predict_route="/v1/predict", health_route="/v1/health", max_request_bytes=2_000_000,
                             predict_route_max_bytes=1_000_000, max_inflight=2, upstream_timeout_s=5)


def torchserve_refusal(code: int, kind: str, message: str) -> httpx.Response:
    return httpx.Response(code, json={"code": code, "type": kind, "message": message})


async def fake_torchserve(request: httpx.Request) -> httpx.Response:
    """TorchServe's inference API as far as the front door sees it."""
    parts = request.url.path.strip("/").split("/")
    if parts == ["ping"]:
        return httpx.Response(200, json={"status": "Healthy"})
    if len(parts) in (2, 3) and parts[0] == "predictions" and parts[1] in PUBLIC_MODELS:
        if len(parts) == 3 and parts[2] != "1.0":
            return torchserve_refusal(404, "ModelVersionNotFoundException", f"Model version {parts[2]} not found")
        return httpx.Response(200, json=vertex_answer(request) or {"garments": [], "bytes": len(request.content)})
    if len(parts) == 2 and parts[0] == "wfpredict" and parts[1] in PUBLIC_WORKFLOWS:
        return httpx.Response(200, json={"garments": [], "bytes": len(request.content)})
    return torchserve_refusal(404, "ModelNotFoundException", f"Model not found: {request.url.path}")


def vertex_answer(request: httpx.Request) -> dict | None:
    """The Vertex AI shape's answer to {"instances": [...]} (what the v2 routes send for several images), else None."""
    try:
        body = json.loads(request.content)
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("instances"), list):
        return None
    return {"predictions": [{"image": {"width": 1, "height": 1}, "garments": [], "embedding": [0.6, 0.8]}
                            for _ in body["instances"]]}


@dataclasses.dataclass
class Door:
    host: str
    port: int
    url: str


@pytest.fixture(scope="module")
def door() -> Iterator[Door]:
    app = build_app(SETTINGS, "http://torchserve", transport=httpx.MockTransport(fake_torchserve), bounds=BOUNDS)
    port = ts.free_port()
    server = uvicorn.Server(server_config(app, "127.0.0.1", port, drain_s=1.0, bounds=BOUNDS))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the front door did not start")
        time.sleep(0.05)
    app.state.frontdoor.ready = True
    yield Door("127.0.0.1", port, f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(timeout=10)


def error_of(r: httpx.Response) -> dict:
    body = json.loads(r.content)
    assert set(body) == {"error"} and body["error"]["code"] == r.status_code and body["error"]["message"], r.text
    return body["error"]

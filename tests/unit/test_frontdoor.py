"""The front door against a fake TorchServe (httpx.MockTransport): content types, the workflow's real status codes,
size limits before buffering, load shedding, readiness and upstream failures, all as JSON errors."""
from __future__ import annotations

import asyncio
import json
from typing import Awaitable, Callable

import httpx
import pytest

from launcher.frontdoor import build_app
from launcher.predict_route import upstream_content_type, workflow_status
from fashion.request.limits import limits
from launcher.settings import FrontDoorSettings, default_inflight

SETTINGS = FrontDoorSettings(predict_route="/v1/predict", health_route="/v1/health", max_request_bytes=10_000,
                             predict_route_max_bytes=1_000, max_inflight=2, upstream_timeout_s=5)
Upstream = Callable[[httpx.Request], Awaitable[httpx.Response]]


def ok_json(payload, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(payload, separators=(",", ":")).encode(),
                          headers={"content-type": "application/json"})


async def echo(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/ping":
        return ok_json({"status": "Healthy"})
    return ok_json({"path": request.url.path, "content_type": request.headers.get("content-type"),
                    "bytes": len(request.content)})


def call(upstream: Upstream, scenario: Callable[[httpx.AsyncClient], Awaitable[None]],
         settings: FrontDoorSettings = SETTINGS, ready: bool = True) -> None:
    app = build_app(settings, "http://torchserve", transport=httpx.MockTransport(upstream))

    async def main() -> None:
        async with app.router.lifespan_context(app):
            app.state.frontdoor.ready = ready
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://front") as client:
                await scenario(client)

    asyncio.run(main())


@pytest.mark.parametrize("sent,forwarded", [
    ("application/x-www-form-urlencoded", "application/octet-stream"), (None, "application/octet-stream"),
    ("image/jpeg", "application/octet-stream"), ("text/plain", "application/octet-stream"),
    ("application/json", "application/json"), ("application/json; charset=utf-8", "application/json; charset=utf-8"),
    ("multipart/form-data; boundary=x", "multipart/form-data; boundary=x")])
def test_content_type_sent_on(sent, forwarded):
    assert upstream_content_type(sent) == forwarded


def test_a_form_urlencoded_jpeg_reaches_torchserve_as_bytes():
    async def scenario(client: httpx.AsyncClient) -> None:
        for path in ("/wfpredict/fashion", "/predictions/fashion"):
            r = await client.post(path, content=b"\xff\xd8jpeg", headers={
                "Content-Type": "application/x-www-form-urlencoded"})
            assert r.status_code == 200
            assert r.json() == {"path": path, "content_type": "application/octet-stream", "bytes": 6}
        r = await client.put("/wfpredict/fashion", content=b"\xff\xd8jpeg")  # curl -T
        assert r.status_code == 200
    call(echo, scenario)


def test_workflow_refusals_answer_their_own_status():
    refusal = {"error": {"code": 415, "type": "UnsupportedMedia", "message": "not an image"}}

    async def upstream(request: httpx.Request) -> httpx.Response:
        if request.content == b"batch":
            return ok_json([refusal, {"garments": []}])
        return ok_json(refusal)

    async def scenario(client: httpx.AsyncClient) -> None:
        r = await client.post("/wfpredict/fashion", content=b"hello")
        assert r.status_code == 415 and r.json() == refusal
        batch = await client.post("/wfpredict/fashion", content=b"batch")
        assert batch.status_code == 200  # a batch answers 200 with an error in the failed item's place
    call(upstream, scenario)
    assert workflow_status(200, b'{"garments":[]}') == 200
    assert workflow_status(200, b'{"error":{"code":"x"}}') == 200
    assert workflow_status(500, b'{"error":{"code":400}}') == 500


def test_bodies_over_the_limit_are_refused_before_they_reach_torchserve():
    seen = []

    async def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return await echo(request)

    async def chunks():
        for _ in range(20):
            yield b"x" * 1000

    async def scenario(client: httpx.AsyncClient) -> None:
        r = await client.post("/predictions/fashion", content=b"x" * 10_001)
        assert r.status_code == 413 and "max_request_size" in r.json()["error"]["message"]
        r = await client.post("/predictions/fashion", content=chunks())  # chunked: counted while streaming
        assert r.status_code == 413
        r = await client.post("/v1/predict", content=b"x" * 1_001)
        assert r.status_code == 413 and "dedicated endpoint" in r.json()["error"]["message"]
        assert (await client.post("/v1/predict", content=b"x" * 1_000)).status_code == 200
    call(upstream, scenario)
    assert seen == ["/predictions/fashion"]  # only the predict route's request within its limit got through


def test_past_the_inflight_limit_a_fast_503_with_retry_after():
    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return await echo(request)

    async def scenario(client: httpx.AsyncClient) -> None:
        held = [asyncio.create_task(client.post("/wfpredict/fashion", content=b"a")) for _ in range(2)]
        await asyncio.sleep(0.05)
        shed = await client.post("/wfpredict/fashion", content=b"a")
        assert shed.status_code == 503 and int(shed.headers["retry-after"]) >= 1
        assert "FASHION_MAX_INFLIGHT" in shed.json()["error"]["message"]
        other = asyncio.create_task(client.post("/predictions/fashion", content=b"a"))  # its own bound
        await asyncio.sleep(0.05)
        release.set()
        assert [r.status_code for r in await asyncio.gather(*held, other)] == [200, 200, 200]
        assert (await client.post("/wfpredict/fashion", content=b"a")).status_code == 200
        stats = (await client.get("/frontdoor/stats")).json()["endpoints"]["/wfpredict/fashion"]
        assert stats["shed"] == 1 and stats["active"] == 0
    call(slow, scenario)


def test_not_ready_and_health():
    async def scenario(client: httpx.AsyncClient) -> None:
        r = await client.post("/predictions/fashion", content=b"a")
        assert r.status_code == 503 and r.headers["retry-after"] and r.json()["error"]["type"] == "NotReady"
        assert (await client.get("/v1/health")).status_code == 503
    call(echo, scenario, ready=False)

    async def ready(client: httpx.AsyncClient) -> None:
        assert (await client.get("/v1/health")).json() == {"status": "ready"}
        assert (await client.get("/ping")).status_code == 200
    call(echo, ready)


def test_upstream_failures_are_json_errors_not_500():
    async def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async def hangs(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async def scenario_503(client: httpx.AsyncClient) -> None:
        r = await client.post("/predictions/fashion", content=b"a")
        assert r.status_code == 503 and r.json()["error"]["code"] == 503

    async def scenario_504(client: httpx.AsyncClient) -> None:
        r = await client.post("/wfpredict/fashion", content=b"a")
        assert r.status_code == 504 and "did not answer" in r.json()["error"]["message"]
    call(refused, scenario_503)
    call(hangs, scenario_504)


def test_unknown_routes_and_methods_are_json():
    async def scenario(client: httpx.AsyncClient) -> None:
        r = await client.post("/elsewhere", content=b"a")
        assert r.status_code == 404 and "/v1/predict" in r.json()["error"]["message"]
        assert (await client.get("/predictions/fashion")).status_code == 405
    call(echo, scenario)


def test_settings_from_the_vertex_environment():
    env = {"AIP_HTTP_PORT": "9000", "AIP_PREDICT_ROUTE": "/x:predict", "AIP_HEALTH_ROUTE": "/hz",
           "AIP_STORAGE_URI": "/mnt/archives", "FASHION_CPUS": "2"}
    s = FrontDoorSettings.from_env(env)
    assert (s.host, s.port, s.predict_route, s.health_route, s.storage_uri) == ("0.0.0.0", 9000, "/x:predict", "/hz",
                                                                             "/mnt/archives")
    assert s.max_request_bytes == limits().max_request_bytes
    assert s.max_inflight == default_inflight(s.latency_budget_s, 2) == 14
    local = FrontDoorSettings.from_env({"FASHION_MAX_INFLIGHT": "7", "FASHION_PREDICT_MAX_BYTES": "0"})
    assert (local.host, local.port, local.max_inflight, local.predict_route_max_bytes) == ("127.0.0.1", 8080, 7, 0)

"""The readiness routes: the health route (Vertex AI's AIP_HEALTH_ROUTE; ready once the pipeline answers and
TorchServe pings), /ping (TorchServe's own status) and /frontdoor/stats (in-flight bounds per endpoint)."""
from __future__ import annotations

import httpx
from starlette.requests import Request
from starlette.responses import Response

from fashion.errors import NotReady
from launcher.door import Door, error, json_response


class HealthRoutes:
    def __init__(self, door: Door) -> None:
        self.state = door.state

    async def health(self, request: Request) -> Response:
        if await self.state.healthy():
            return json_response({"status": "ready"})
        return error(NotReady("the models are loading, or the model server stopped answering"), {"Retry-After": "5"})

    async def ping(self, request: Request) -> Response:
        try:
            assert self.state.client is not None
            r = await self.state.client.get("/ping", timeout=5)
            status = r.json().get("status")
        except (httpx.HTTPError, AssertionError, ValueError, AttributeError):
            return error(NotReady("the model server does not answer"))
        return json_response({"status": status}, r.status_code if r.status_code < 500 else 503)

    async def stats(self, request: Request) -> Response:
        return json_response({"ready": self.state.ready, "endpoints": self.state.shedder.stats()})

"""The front door: one ASGI app (Starlette on uvicorn) in front of TorchServe, which listens on loopback only.

An allow-list, not a pass-through: it answers the routes of launcher.routes and nothing else, each from a small
route module: predictions (launcher.predict_route: the public models, the workflow, Vertex AI's predict route),
/search (launcher.search_route), readiness (launcher.health_route) and the page with its OpenAPI description
(launcher.page_route); what they share is launcher.door. launcher.http_guard refuses odd paths, URLs and headers
before routing, launcher.http_server odd HTTP. For each prediction it:
- reads the body first, within the size limit (413 before buffering: Content-Length, or counted while streaming)
  and the body deadline (BODY_TIMEOUT_S: 408, connection closed), before it takes an in-flight slot, so a slow
  client never holds one;
- checks its structure (launcher.body_checks: multipart, JSON bounds) and refuses a query string (options go in
  the body: JSON keys, Vertex "parameters" or form fields; a query string would otherwise be silently ignored);
- hands a raw image body on as application/octet-stream whatever its Content-Type (TorchServe would parse a
  form-urlencoded JPEG as a form and answer 500); the handlers sniff JSON from bytes;
- keeps at most `max_inflight` requests per endpoint in flight (launcher.shedding: a fast 503 with Retry-After);
- answers the workflow's refusals with their real status (a workflow can only answer 200 or 500) and rewrites
  every TorchServe refusal into the error shape; the model server's failures become 503/504 JSON errors.
The Open Inference Protocol (KServe v2) is answered over REST under /v2 (launcher.v2_route) and over gRPC on
settings.grpc_port (launcher.v2_grpc), both through launcher.v2_infer onto the same endpoints and bounds.
Management and metrics stay TorchServe's own, on loopback.
"""
from __future__ import annotations

import contextlib
from typing import AsyncIterator, Awaitable, Callable

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fashion.errors import InvalidInput, MethodNotAllowed, NotFound, NotReady, RequestError
from fashion.request.limits import Limits, limits
from launcher.door import Door, State, error
from launcher.health_route import HealthRoutes
from launcher.http_guard import HttpGuard, is_v2
from launcher.page_route import PageRoutes
from launcher.predict_route import PredictRoutes
from launcher.routes import PUBLIC_WORKFLOWS, route_table
from launcher.search_route import SearchRoutes, SearchService
from launcher.thumbnail_route import ThumbnailRoutes
from launcher.settings import FrontDoorSettings
from launcher.v2_grpc import grpc_endpoint
from launcher.v2_protocol import V2_MODELS
from launcher.v2_route import V2_PREFIX, V2Routes

__all__ = ["State", "build_app"]


def http_error(settings: FrontDoorSettings) -> Callable[[Request, Exception], Awaitable[Response]]:
    """Starlette's own 404/405 (and any other HTTPException) in the error shape."""

    async def answer(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        refusal: RequestError
        if exc.status_code == 405:
            refusal = MethodNotAllowed(f"{request.method[:16]} is not allowed on {request.url.path[:120]}")
        elif exc.status_code == 404:
            refusal = NotFound(f"unknown route {request.url.path[:120]}; predictions go to "
                               f"{settings.predict_route}, /predictions/<model>, /wfpredict/{PUBLIC_WORKFLOWS[0]}, "
                               f"{V2_PREFIX}/models/<model>/infer or /search (GET /openapi.json lists them)")
        else:
            refusal = (InvalidInput(str(exc.detail)[:200]) if 400 <= exc.status_code < 500 else
                       NotReady(str(exc.detail)[:200]))
        return error(refusal, v2=is_v2(request.url.path))

    return answer


def build_app(settings: FrontDoorSettings, inference: str,
              lifespan: Callable[[State], contextlib.AbstractAsyncContextManager[None]] | None = None,
              transport: httpx.AsyncBaseTransport | None = None,
              search: SearchService | None = None, bounds: Limits | None = None) -> Starlette:
    """The ASGI app forwarding to TorchServe's inference API at `inference` (http://127.0.0.1:PORT), behind the
    request guard (launcher.http_guard); app.state.frontdoor is its State. `bounds`: the limits (default: the
    environment's, fashion.request.limits)."""
    bounds = bounds or limits()
    state = State(settings, inference)
    door = Door(state, bounds)
    search = search or SearchService(None)
    v2 = V2Routes(door)
    modules = (PredictRoutes(door), SearchRoutes(door, search), ThumbnailRoutes(door, search), HealthRoutes(door),
               PageRoutes(door), v2)

    @contextlib.asynccontextmanager
    async def lifespan_with_client(app: Starlette) -> AsyncIterator[None]:
        state.client = httpx.AsyncClient(
            base_url=inference, timeout=httpx.Timeout(settings.upstream_timeout_s, connect=5.0), transport=transport,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64))
        try:
            async with contextlib.AsyncExitStack() as running:
                if lifespan is not None:
                    await running.enter_async_context(lifespan(state))
                if settings.grpc_port is not None:  # stopped (calls in flight drained) before the model server
                    await running.enter_async_context(grpc_endpoint(
                        v2.service, settings.host, settings.grpc_port, settings.max_request_bytes,
                        settings.max_inflight * len(V2_MODELS) + 8, settings.drain_s))
                yield
        finally:
            state.ready = False
            await state.client.aclose()

    def endpoint(name: str) -> Callable[[Request], Awaitable[Response]]:
        return next(getattr(m, name) for m in modules if hasattr(m, name))

    routes = [Route(r.path, endpoint(r.endpoint), methods=list(r.methods)) for r in route_table(settings)]
    app = Starlette(routes=routes, lifespan=lifespan_with_client, middleware=[Middleware(HttpGuard, bounds=bounds)],
                    exception_handlers={HTTPException: http_error(settings)})
    app.state.frontdoor = state
    return app

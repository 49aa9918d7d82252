"""The front door: one ASGI app (Starlette on uvicorn) in front of TorchServe, which listens on loopback only.

It serves TorchServe's inference paths unchanged (/predictions/<model>, /wfpredict/<workflow>, /ping), the
Vertex AI predict and health routes, and readiness, and fixes what TorchServe's frontend cannot:
- a raw image body is accepted whatever its Content-Type: everything but multipart and JSON goes on as
  application/octet-stream (TorchServe would parse a form-urlencoded JPEG as a form and answer 500); the
  handlers sniff JSON from bytes, so `curl -d '{"b64": ...}'` works too;
- /wfpredict answers a refusal with its real status code (the workflow can only answer 200 or 500, so a refusal
  travels as a 200 whose body is the error object), the same as /predictions;
- bodies over the limit get a JSON 413 before they are buffered (Content-Length, or counted while streaming);
- at most `max_inflight` requests per endpoint are in flight; past that a fast 503 with Retry-After
  (launcher.shedding);
- one pooled keep-alive client to TorchServe; its failures become 503/504 JSON errors, never a 500 of ours.
It also serves the catalogue search (POST /search, launcher.search_route) and the web page at / (static files
in launcher/web: drop a photo, see its garments, metadata, colours and the most similar catalogue products).
Management and metrics stay TorchServe's own, on loopback.
"""
from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from fashion.errors import InvalidInput, NotReady, PayloadTooLarge, RequestError
from launcher.search_route import SearchService
from launcher.settings import FrontDoorSettings
from launcher.shedding import Shedder

HEALTH_CACHE_S = 5.0
UPSTREAM_HEADERS = ("content-type", "x-request-id")
WEB = Path(__file__).with_name("web")


class GatewayTimeout(RequestError):
    code, phrase = 504, "Gateway Timeout"


class State:
    """What the app knows at run time: readiness (set by the launcher once the pipeline answers), the client."""

    def __init__(self, settings: FrontDoorSettings, inference: str) -> None:
        self.settings, self.inference = settings, inference
        self.ready = False
        self.client: httpx.AsyncClient | None = None
        self.shedder = Shedder(settings.max_inflight)
        self._checked, self._pinged = 0.0, False

    async def healthy(self) -> bool:
        if not self.ready or self.client is None:
            return False
        if time.monotonic() - self._checked > HEALTH_CACHE_S:
            try:
                self._pinged = (await self.client.get("/ping", timeout=3)).status_code == 200
            except httpx.HTTPError:
                self._pinged = False
            self._checked = time.monotonic()
        return self._pinged


def error(exc: RequestError, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(exc.to_dict()), exc.code, headers=headers, media_type="application/json")


def upstream_content_type(content_type: str | None) -> str:
    """Multipart and JSON keep their type (TorchServe splits the parts, parses the JSON); anything else (a form,
    text, image/*, none) is handed over as bytes, which the handlers sniff."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind.startswith("multipart/") or kind == "application/json" or kind.endswith("+json"):
        return content_type or ""
    return "application/octet-stream"


def workflow_status(status: int, body: bytes) -> int:
    """A workflow's refusal is a 200 whose body is the error object: answer its own code instead."""
    if status != 200 or not body.startswith(b'{"error":'):
        return status
    try:
        code = json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return status
    return code if isinstance(code, int) and 400 <= code < 600 else status


async def read_body(request: Request, limit: int, why: str) -> bytes:
    """The body, refused with a 413 as soon as it is known to exceed `limit` (never buffered past it)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InvalidInput(f"Content-Length {declared!r} is not a number")
        if int(declared) > limit:
            raise PayloadTooLarge(f"the request is {int(declared)} bytes; {why}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the request is over {limit} bytes; {why}")
        chunks.append(chunk)
    return b"".join(chunks)


def build_app(settings: FrontDoorSettings, inference: str,
              lifespan: Callable[[State], contextlib.AbstractAsyncContextManager[None]] | None = None,
              transport: httpx.AsyncBaseTransport | None = None,
              search: SearchService | None = None) -> Starlette:
    """The ASGI app forwarding to TorchServe's inference API at `inference` (http://127.0.0.1:PORT)."""
    state = State(settings, inference)
    search = search or SearchService(None)
    general_limit = (f"the limit is {settings.max_request_bytes} bytes (TorchServe's max_request_size); "
                     "send fewer or smaller images per request")
    predict_limit = (f"Vertex AI shared endpoints accept at most {settings.predict_route_max_bytes} bytes. Resize "
                     "the images before sending (`python -m client --max-bytes ...` does it) or deploy to a "
                     "dedicated endpoint and set FASHION_PREDICT_MAX_BYTES=0")

    def not_ready() -> Response | None:
        if state.ready:
            return None
        return error(NotReady("the models are loading; retry shortly"), {"Retry-After": "5"})

    async def guarded(path: str, call: Callable[[], Awaitable[Response]]) -> Response:
        """One call within `path`'s in-flight bound (a fast 503 past it); a request error answers its own code,
        the model server's failures become 503/504, never a 500 of ours."""
        slot = state.shedder[path]
        if not slot.try_acquire():
            return error(NotReady(
                f"{path} is at its limit of {slot.limit} requests in flight (FASHION_MAX_INFLIGHT); "
                f"retry after {slot.retry_after()} s"), {"Retry-After": str(slot.retry_after())})
        start, answered = time.monotonic(), False
        try:
            response = await call()
            answered = True
            return response
        except RequestError as exc:
            return error(exc)
        except httpx.TimeoutException:
            return error(GatewayTimeout(f"the model server did not answer within {settings.upstream_timeout_s:.0f} s"))
        except httpx.HTTPError as exc:
            return error(NotReady(f"the model server did not answer ({type(exc).__name__})"), {"Retry-After": "5"})
        finally:
            slot.release(time.monotonic() - start if answered else None)

    async def forward(request: Request, path: str, body_limit: int, why: str) -> Response:
        if (refused := not_ready()) is not None:
            return refused
        try:
            body = await read_body(request, body_limit, why)
        except RequestError as exc:
            return error(exc, {"Connection": "close"} if exc.code == 413 else None)

        async def upstream() -> Response:
            assert state.client is not None
            headers = {"Content-Type": upstream_content_type(request.headers.get("content-type"))}
            if "authorization" in request.headers:  # TorchServe's token, when an operator turns it on
                headers["Authorization"] = request.headers["authorization"]
            r = await state.client.post(path, content=body, params=request.query_params, headers=headers)
            status = workflow_status(r.status_code, r.content) if path.startswith("/wfpredict/") else r.status_code
            return Response(r.content, status, headers={k: r.headers[k] for k in UPSTREAM_HEADERS if k in r.headers})

        return await guarded(path, upstream)

    async def passthrough(request: Request) -> Response:
        return await forward(request, request.url.path, settings.max_request_bytes, general_limit)

    async def predict(request: Request) -> Response:
        limit = settings.predict_route_max_bytes or settings.max_request_bytes
        return await forward(request, settings.predict_target, min(limit, settings.max_request_bytes),
                             predict_limit if settings.predict_route_max_bytes else general_limit)

    async def health(request: Request) -> Response:
        if await state.healthy():
            return Response(json.dumps({"status": "ready"}), 200, media_type="application/json")
        return error(NotReady("the models are loading, or the model server stopped answering"),
                     {"Retry-After": "5"})

    async def ping(request: Request) -> Response:
        try:
            assert state.client is not None
            r = await state.client.get("/ping", timeout=5)
        except (httpx.HTTPError, AssertionError):
            return error(NotReady("the model server does not answer"))
        return Response(r.content, r.status_code, media_type="application/json")

    async def stats(request: Request) -> Response:
        return Response(json.dumps({"ready": state.ready, "endpoints": state.shedder.stats()}),
                        media_type="application/json")

    async def search_route(request: Request) -> Response:
        if (refused := not_ready()) is not None:
            return refused

        async def answer() -> Response:
            body = await read_body(request, settings.max_request_bytes, general_limit)
            assert state.client is not None
            payload = await search.search(state.client, request, body)
            return Response(json.dumps(payload), 200, media_type="application/json")

        return await guarded("/search", answer)

    async def page(request: Request) -> Response:
        return FileResponse(WEB / "index.html", media_type="text/html")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = (f"unknown route {request.url.path}; predictions go to {settings.predict_route}, "
                   "/predictions/<model>, /wfpredict/fashion or /search" if exc.status_code == 404
                   else f"{request.method} is not allowed on {request.url.path}")
        payload: dict[str, Any] = {"error": {"code": exc.status_code, "type": "HTTPError", "message": message}}
        return Response(json.dumps(payload), exc.status_code, media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan_with_client(app: Starlette) -> AsyncIterator[None]:
        state.client = httpx.AsyncClient(
            base_url=inference, timeout=httpx.Timeout(settings.upstream_timeout_s, connect=5.0), transport=transport,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64))
        try:
            if lifespan is None:
                yield
            else:
                async with lifespan(state):
                    yield
        finally:
            state.ready = False
            await state.client.aclose()

    routes = [
        Route(settings.health_route, health, methods=["GET"]),
        Route(settings.predict_route, predict, methods=["POST"]),
        Route("/ping", ping, methods=["GET"]),
        Route("/frontdoor/stats", stats, methods=["GET"]),
        Route("/predictions/{model}", passthrough, methods=["POST", "PUT"]),
        Route("/predictions/{model}/{version}", passthrough, methods=["POST", "PUT"]),
        Route("/wfpredict/{workflow}", passthrough, methods=["POST", "PUT"]),
        Route("/search", search_route, methods=["POST"]),
        Route("/", page, methods=["GET"]),
        Mount("/web", StaticFiles(directory=WEB), name="web"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan_with_client,
                    exception_handlers={HTTPException: http_error})
    app.state.frontdoor = state
    return app


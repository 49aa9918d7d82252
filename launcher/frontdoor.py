"""The front door: one ASGI app (Starlette on uvicorn) in front of TorchServe, which listens on loopback only.

An allow-list, not a pass-through: it answers the routes of launcher.routes (the public models and the workflow,
the Vertex AI predict and health routes, readiness, /search, the web page, its OpenAPI description) and nothing
else; launcher.http_guard refuses odd paths, URLs and headers before routing, launcher.http_server odd HTTP.
For each prediction it:
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
Management and metrics stay TorchServe's own, on loopback.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from typing import Any, AsyncIterator, Awaitable, Callable

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from fashion.errors import (GatewayTimeout, InvalidInput, MethodNotAllowed, NotFound, NotReady, PayloadTooLarge,
                            RequestError, RequestTimeout)
from fashion.limits import Limits, limits
from launcher.body_checks import check_body
from launcher.http_guard import HttpGuard
from launcher.routes import PUBLIC_MODELS, PUBLIC_WORKFLOWS, WEB, WEB_FILES, openapi, route_table
from launcher.search_route import SearchService
from launcher.settings import FrontDoorSettings
from launcher.shedding import Shedder

HEALTH_CACHE_S = 5.0
UPSTREAM_HEADERS = ("content-type", "x-request-id")
VERSION = re.compile(r"[A-Za-z0-9_.-]{1,64}")
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; script-src 'self'; "
                "style-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                "frame-ancestors 'none'; form-action 'self'"}
# TorchServe's decoder failures on a malformed body: the caller's fault, whatever status TorchServe gives
CALLER_FAULTS = ("ErrorDataDecoderException", "BadRequestException", "TooLongFrameException")


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
    if exc.code in (408, 413):
        headers = {**(headers or {}), "Connection": "close"}  # the rest of the body is never read
    return Response(json.dumps(exc.to_dict()), exc.code, headers=headers, media_type="application/json")


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status, media_type="application/json")


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


def upstream_error(status: int, body: bytes) -> tuple[int, bytes] | None:
    """A TorchServe refusal in its own shape ({"code", "type", "message"}, or not JSON at all) rewritten into the
    error shape; None when `body` is already in it. A decoder failure on the caller's body becomes a 400."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        return None
    if isinstance(payload, dict) and "message" in payload:
        kind, message = str(payload.get("type") or "ModelServerError"), str(payload["message"])
    else:
        kind, message = "ModelServerError", body[:200].decode("utf-8", "replace") or f"HTTP {status}"
    if kind in CALLER_FAULTS:
        status, message = 400, f"the model server could not decode the body ({message})"
    return status, json.dumps({"error": {"code": status, "type": kind, "message": message}}).encode()


async def read_body(request: Request, limit: int, why: str, deadline: float) -> bytes:
    """The body within `limit` bytes (refused with a 413 as soon as it is known to exceed it, never buffered past
    it) and within `deadline` seconds (408)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InvalidInput(f"Content-Length {declared[:40]!r} is not a number")
        if int(declared) > limit:
            raise PayloadTooLarge(f"the request is {int(declared)} bytes; {why}")
    chunks, size = [], 0
    try:
        async with asyncio.timeout(deadline):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"the request is over {limit} bytes; {why}")
                chunks.append(chunk)
    except ClientDisconnect:
        raise InvalidInput(f"the client disconnected after {size} bytes of its body") from None
    except TimeoutError:
        raise RequestTimeout(f"the request body did not arrive within {deadline:g} s (BODY_TIMEOUT_S); "
                             f"{size} bytes came") from None
    return b"".join(chunks)


class FrontDoor:
    """The route handlers, bound to one State (the route table names them by `endpoint`)."""

    def __init__(self, state: State, search: SearchService, bounds: Limits) -> None:
        self.state, self.settings, self.search_service, self.bounds = state, state.settings, search, bounds
        self.description = json.dumps(openapi(self.settings))  # /openapi.json: fixed once the settings are
        s = self.settings
        self.general_limit = (f"the limit is {s.max_request_bytes} bytes (MAX_REQUEST_BYTES, TorchServe's "
                              "max_request_size); send fewer or smaller images per request")
        self.predict_limit = (f"Vertex AI shared endpoints accept at most {s.predict_route_max_bytes} bytes. Resize "
                              "the images before sending (`python -m client --max-bytes ...` does it) or deploy to "
                              "a dedicated endpoint and set FASHION_PREDICT_MAX_BYTES=0")

    def not_ready(self) -> Response | None:
        if self.state.ready:
            return None
        return error(NotReady("the models are loading; retry shortly"), {"Retry-After": "5"})

    async def guarded(self, path: str, call: Callable[[], Awaitable[Response]]) -> Response:
        """One call within `path`'s in-flight bound (a fast 503 past it); a request error answers its own code,
        the model server's failures become 503/504, never a 500 of ours."""
        slot = self.state.shedder[path]
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
            return error(GatewayTimeout(
                f"the model server did not answer within {self.settings.upstream_timeout_s:.0f} s"))
        except httpx.HTTPError as exc:
            return error(NotReady(f"the model server did not answer ({type(exc).__name__})"), {"Retry-After": "5"})
        finally:
            slot.release(time.monotonic() - start if answered else None)

    async def forward(self, request: Request, path: str, body_limit: int, why: str) -> Response:
        if (refused := self.not_ready()) is not None:
            return refused
        content_type = request.headers.get("content-type")
        try:
            if request.url.query:
                raise InvalidInput(f"{request.url.path} reads no query string: send options in the body (JSON keys "
                                   'beside the image, {"parameters": {...}} in the Vertex shape, or form fields)')
            body = await read_body(request, body_limit, why, self.bounds.body_timeout_s)
            check_body(body, content_type, self.bounds)
        except RequestError as exc:
            return error(exc)

        async def upstream() -> Response:
            assert self.state.client is not None
            headers = {"Content-Type": upstream_content_type(content_type)}
            if "authorization" in request.headers:  # TorchServe's token, when an operator turns it on
                headers["Authorization"] = request.headers["authorization"]
            r = await self.state.client.post(path, content=body, headers=headers)
            status, content = r.status_code, r.content
            if path.startswith("/wfpredict/"):
                status = workflow_status(status, content)
            if status >= 400 and (rewritten := upstream_error(status, content)) is not None:
                status, content = rewritten
                return Response(content, status, media_type="application/json")
            return Response(content, status, headers={k: r.headers[k] for k in UPSTREAM_HEADERS if k in r.headers})

        return await self.guarded(path, upstream)

    # --- the routes (launcher.routes names them)
    async def predictions(self, request: Request) -> Response:
        model, version = request.path_params["model"], request.path_params.get("version")
        if model not in PUBLIC_MODELS:
            return error(NotFound(f"no public model {model[:64]!r}; the models are {list(PUBLIC_MODELS)}"))
        if version is not None and not VERSION.fullmatch(version):
            return error(NotFound(f"no version {version[:64]!r} of {model}"))
        return await self.forward(request, request.url.path, self.settings.max_request_bytes, self.general_limit)

    async def workflow(self, request: Request) -> Response:
        name = request.path_params["workflow"]
        if name not in PUBLIC_WORKFLOWS:
            return error(NotFound(f"no workflow {name[:64]!r}; the workflows are {list(PUBLIC_WORKFLOWS)}"))
        return await self.forward(request, request.url.path, self.settings.max_request_bytes, self.general_limit)

    async def predict(self, request: Request) -> Response:
        s = self.settings
        limit = min(s.predict_route_max_bytes or s.max_request_bytes, s.max_request_bytes)
        return await self.forward(request, s.predict_target, limit,
                                  self.predict_limit if s.predict_route_max_bytes else self.general_limit)

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

    async def search(self, request: Request) -> Response:
        if (refused := self.not_ready()) is not None:
            return refused
        try:
            body = await read_body(request, self.settings.max_request_bytes, self.general_limit,
                                   self.bounds.body_timeout_s)
            check_body(body, request.headers.get("content-type"), self.bounds)
        except RequestError as exc:
            return error(exc)

        async def answer() -> Response:
            assert self.state.client is not None
            return json_response(await self.search_service.search(self.state.client, request, body))

        return await self.guarded("/search", answer)

    async def openapi(self, request: Request) -> Response:
        return Response(self.description, media_type="application/json")

    async def page(self, request: Request) -> Response:
        return FileResponse(WEB / "index.html", media_type="text/html", headers=PAGE_HEADERS)

    async def static(self, request: Request) -> Response:
        name = request.path_params["file"]
        if name not in WEB_FILES:
            return error(NotFound(f"no file {name[:64]!r}; the page's files are {list(WEB_FILES)}"))
        return FileResponse(WEB / name)

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            return error(MethodNotAllowed(f"{request.method[:16]} is not allowed on {request.url.path[:120]}"))
        if exc.status_code == 404:
            return error(NotFound(f"unknown route {request.url.path[:120]}; predictions go to "
                                  f"{self.settings.predict_route}, /predictions/<model>, "
                                  f"/wfpredict/{PUBLIC_WORKFLOWS[0]} or /search (GET /openapi.json lists them)"))
        return error(InvalidInput(str(exc.detail)[:200]) if 400 <= exc.status_code < 500 else
                     NotReady(str(exc.detail)[:200]))


def build_app(settings: FrontDoorSettings, inference: str,
              lifespan: Callable[[State], contextlib.AbstractAsyncContextManager[None]] | None = None,
              transport: httpx.AsyncBaseTransport | None = None,
              search: SearchService | None = None, bounds: Limits | None = None) -> Starlette:
    """The ASGI app forwarding to TorchServe's inference API at `inference` (http://127.0.0.1:PORT), behind the
    request guard (launcher.http_guard); app.state.frontdoor is its State. `bounds`: the limits (default: the
    environment's, fashion.limits)."""
    bounds = bounds or limits()
    state = State(settings, inference)
    door = FrontDoor(state, search or SearchService(None), bounds)

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

    routes = [Route(r.path, getattr(door, r.endpoint), methods=list(r.methods)) for r in route_table(settings)]
    app = Starlette(routes=routes, lifespan=lifespan_with_client, middleware=[Middleware(HttpGuard, bounds=bounds)],
                    exception_handlers={HTTPException: door.http_error})
    app.state.frontdoor = state
    return app


"""What every front-door route shares: the run-time State, the error shape, bodies read within their limits, the
readiness check and the in-flight bound around each call to the model server (launcher.shedding)."""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Awaitable, Callable, TypeVar

import httpx
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from fashion.errors import GatewayTimeout, InvalidInput, NotReady, PayloadTooLarge, RequestError, RequestTimeout
from fashion.request.limits import Limits
from launcher.body_checks import check_body
from launcher.settings import FrontDoorSettings
from launcher.shedding import Shedder

HEALTH_CACHE_S = 5.0
T = TypeVar("T")


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


def error(exc: RequestError, headers: dict[str, str] | None = None, v2: bool = False) -> Response:
    """A refusal with its status and headers, in the error shape (v2: the Open Inference Protocol's,
    {"error": "<message>"})."""
    if exc.retry_after is not None:
        headers = {**(headers or {}), "Retry-After": str(exc.retry_after)}
    if exc.code in (408, 413):
        headers = {**(headers or {}), "Connection": "close"}  # the rest of the body is never read
    body = {"error": exc.message} if v2 else exc.to_dict()
    return Response(json.dumps(body), exc.code, headers=headers, media_type="application/json")


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status, media_type="application/json")


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


class Door:
    """The shared part of every route: readiness, bodies, the in-flight bound. Route modules take one."""

    def __init__(self, state: State, bounds: Limits) -> None:
        self.state, self.settings, self.bounds = state, state.settings, bounds
        self.general_limit = (f"the limit is {self.settings.max_request_bytes} bytes (MAX_REQUEST_BYTES, "
                              "TorchServe's max_request_size); send fewer or smaller images per request")

    def not_ready(self) -> Response | None:
        if self.state.ready:
            return None
        return error(NotReady("the models are loading; retry shortly"), {"Retry-After": "5"})

    async def body(self, request: Request, limit: int, why: str) -> bytes:
        """The request's body, read before any slot is taken (a slow client never holds one) and checked
        (launcher.body_checks); a RequestError otherwise."""
        body = await read_body(request, limit, why, self.bounds.body_timeout_s)
        check_body(body, request.headers.get("content-type"), self.bounds)
        return body

    async def bounded(self, path: str, call: Callable[[], Awaitable[T]]) -> T:
        """One call within `path`'s in-flight bound: NotReady past it (fast, with a retry time); the model server's
        failures become NotReady / GatewayTimeout, a request error stays itself. Every protocol (REST, gRPC) calls
        the model server through here."""
        slot = self.state.shedder[path]
        if not slot.try_acquire():
            raise NotReady(f"{path} is at its limit of {slot.limit} requests in flight (FASHION_MAX_INFLIGHT); "
                           f"retry after {slot.retry_after()} s", retry_after=slot.retry_after())
        start, answered = time.monotonic(), False
        try:
            result = await call()
            answered = True
            return result
        except httpx.TimeoutException:
            raise GatewayTimeout(
                f"the model server did not answer within {self.settings.upstream_timeout_s:.0f} s") from None
        except httpx.HTTPError as exc:
            raise NotReady(f"the model server did not answer ({type(exc).__name__})", retry_after=5) from None
        finally:
            slot.release(time.monotonic() - start if answered else None)

    async def guarded(self, path: str, call: Callable[[], Awaitable[Response]]) -> Response:
        """`bounded`, every refusal answered in the error shape with its own code (never a 500 of ours)."""
        try:
            return await self.bounded(path, call)
        except RequestError as exc:
            return error(exc)

"""The front door's request guard: a pure ASGI middleware in front of the routes.

Before any route runs, a request is refused in the JSON error shape when
- its path, decoded, holds a dot segment, an empty segment, a control character, a backslash or anything outside
  ASCII, or its raw form an encoded separator (%2F, %5C) (400): paths are matched as sent, never normalised into
  another API;
- its URL is over MAX_URL_BYTES or its query string holds more than MAX_QUERY_PARAMS parameters (414);
- it has more than MAX_HEADERS headers (431);
- a header the front door reads or forwards (Content-Type, Authorization, X-Request-ID) holds a byte outside
  printable ASCII (400);
- its framing is ambiguous (Content-Length with Transfer-Encoding: also refused by launcher.http_server before
  parsing; this covers servers without it) (400, connection closed).
Every response gets X-Content-Type-Options: nosniff; an exception escaping a route becomes a JSON 500 (a bug:
the fuzz tests look for them), never a plain-text one.
"""
from __future__ import annotations

import json
import logging
import re
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qsl

from fashion.errors import HeadersTooLarge, InvalidInput, RequestError, URITooLong, error_dict
from fashion.request.limits import Limits, limits

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

READ_HEADERS = (b"content-type", b"authorization", b"x-request-id", b"inference-header-content-length")
PRINTABLE = re.compile(rb"[\x20-\x7e\t]*")
ENCODED_SEPARATOR = re.compile(rb"%(2f|5c)", re.I)
NOSNIFF = (b"x-content-type-options", b"nosniff")
log = logging.getLogger("launcher.http_guard")


def path_problem(raw_path: bytes, path: str) -> str | None:
    """Why a request path is refused, or None. `raw_path` is the path as sent (percent-encoded), `path` the
    server's decoding of it (the ASGI scope's)."""
    if not raw_path.startswith(b"/"):
        return "the path must start with /"
    if ENCODED_SEPARATOR.search(raw_path):
        return "the path holds an encoded separator (%2F or %5C)"
    if not path.isascii():
        return "the path holds characters outside ASCII"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        return "the path holds a control character"
    if "\\" in path:
        return "the path holds a backslash"
    segments = path.split("/")[1:]
    if any(s in (".", "..") for s in segments):
        return "the path holds a dot segment (. or ..)"
    if any(s == "" for s in segments[:-1]):
        return "the path holds an empty segment (//)"
    return None


def request_problem(scope: Scope, bounds: Limits) -> RequestError | None:
    """The first reason to refuse this request before routing it, or None."""
    if scope.get("http_version") not in ("1.0", "1.1"):
        return InvalidInput(f"HTTP/{scope.get('http_version')} is not served here; speak HTTP/1.1")
    path: str = scope["path"]
    raw_path: bytes = scope.get("raw_path") or path.encode("utf-8", "surrogateescape")
    query: bytes = scope.get("query_string", b"")
    if len(raw_path) + len(query) > bounds.max_url_bytes:
        return URITooLong(f"the URL is {len(raw_path) + len(query)} bytes; the limit is {bounds.max_url_bytes} "
                          "(MAX_URL_BYTES)")
    if (why := path_problem(raw_path, path)) is not None:
        return InvalidInput(f"{why}: {raw_path[:120].decode('latin-1')!r}")
    if query and query.count(b"&") + 1 > bounds.max_query_params:
        count = len(parse_qsl(query.decode("latin-1"), keep_blank_values=True))
        if count > bounds.max_query_params:
            return URITooLong(f"the query string has {count} parameters; the limit is {bounds.max_query_params} "
                              "(MAX_QUERY_PARAMS)")
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    if len(headers) > bounds.max_headers:
        return HeadersTooLarge(f"the request has {len(headers)} headers; the limit is {bounds.max_headers} "
                              "(MAX_HEADERS)")
    names = [name for name, _ in headers]
    if b"transfer-encoding" in names and b"content-length" in names or names.count(b"content-length") > 1:
        return InvalidInput("the request's body framing is ambiguous (Content-Length with Transfer-Encoding, or two "
                            "Content-Length headers); the connection is closed")
    for name, value in headers:
        if name in READ_HEADERS and not PRINTABLE.fullmatch(value):
            return InvalidInput(f"the {name.decode()} header holds bytes outside printable ASCII")
    return None


def is_v2(path: str) -> bool:
    """A path of the Open Inference Protocol (launcher.v2_route), whose refusals are {"error": "<message>"}."""
    return path == "/v2" or path.startswith("/v2/")


async def send_error(send: Send, exc: RequestError | BaseException, close: bool = False, v2: bool = False) -> None:
    payload = exc.to_dict() if isinstance(exc, RequestError) else error_dict(exc)
    body = json.dumps({"error": payload["error"]["message"]} if v2 else payload).encode()
    status = exc.code if isinstance(exc, RequestError) else 500
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), NOSNIFF]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class HttpGuard:
    """The middleware (module docstring)."""

    def __init__(self, app: ASGIApp, bounds: Limits | None = None) -> None:
        self.app, self.bounds = app, bounds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = request_problem(scope, self.bounds or limits())
        if problem is not None:
            await send_error(send, problem, close=True, v2=is_v2(scope["path"]))
            return
        started = False

        async def guarded_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", []), NOSNIFF]}
            await send(message)

        try:
            await self.app(scope, receive, guarded_send)
        except Exception as exc:  # noqa: BLE001 - a bug in a route: answered in the error shape, logged
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await send_error(send, exc, close=True, v2=is_v2(scope["path"]))

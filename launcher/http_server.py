"""The front door's HTTP/1.1 server: uvicorn's h11 protocol with the hygiene a public port needs.

What uvicorn and h11 do not do, done here before h11 parses a request head (so nothing ambiguous reaches the app):
- a deadline for the request head (FASHION's HEADER_TIMEOUT_S, from its first byte, and from the connection's
  start): a client that trickles its headers gets a 408 and the connection is closed;
- a limit on the head's size (MAX_HEADER_BYTES): 431, closed;
- ambiguous framing refused and the connection closed (400): Content-Length together with Transfer-Encoding,
  more than one Content-Length (h11 merges equal ones silently), a Transfer-Encoding other than chunked, a header
  folded over lines (h11 unfolds it); also for
  a request pipelined behind another, checked before it is parsed;
- h11's own refusals (a malformed request line or header) answered in the project's JSON error shape.
The body's deadline is the app's (launcher.frontdoor reads bodies before taking an in-flight slot).
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from fashion.errors import HeadersTooLarge, InvalidInput, RequestError, RequestTimeout
from fashion.request.limits import Limits, limits

HEAD_END = b"\r\n\r\n"


def framing_problem(head: bytes) -> str | None:
    """Why a request head's framing is ambiguous, or None. `head` is the raw head up to its blank line."""
    lengths, encodings = 0, []
    for line in head.split(b"\r\n")[1:]:
        if line[:1] in (b" ", b"\t"):
            return "the request folds a header over lines (obsolete line folding)"
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            lengths += 1
        elif name == b"transfer-encoding":
            encodings.append(value.strip().lower())
    if lengths > 1:
        return "the request has more than one Content-Length header"
    if lengths and encodings:
        return "the request has both Content-Length and Transfer-Encoding (ambiguous framing)"
    if encodings and encodings != [b"chunked"]:
        return "the only Transfer-Encoding accepted is a single 'chunked'"
    return None


class GuardedH11Protocol(H11Protocol):
    """uvicorn's H11Protocol with a head deadline, a head size limit and framing checks (module docstring)."""

    bounds: Limits = Limits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_timer: asyncio.TimerHandle | None = None

    # --- the head's deadline
    def _arm_head_timer(self) -> None:
        if self.head_timer is None:
            self.head_timer = self.loop.call_later(self.bounds.header_timeout_s, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.refuse(RequestTimeout(f"the request's headers did not arrive within "
                                       f"{self.bounds.header_timeout_s:g} s (HEADER_TIMEOUT_S)"))

    # --- the protocol
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            if self.refused_head(self.conn.trailing_data[0] + data):
                return
            self._arm_head_timer()
        try:
            super().data_received(data)
        except UnicodeDecodeError:  # uvicorn decodes the request target as ASCII; h11 lets other bytes through
            self.refuse(InvalidInput("the request target holds bytes outside ASCII; percent-encode them"))
            return
        if self.conn.their_state is not h11.IDLE:
            self._disarm_head_timer()

    def on_response_complete(self) -> None:
        pending = self.conn.trailing_data[0]  # a request pipelined behind this one, parsed next
        if pending and self.refused_head(pending, answer=False):
            return
        super().on_response_complete()

    def refused_head(self, buffered: bytes, answer: bool = True) -> bool:
        """Check the head in `buffered` (possibly partial); refuse it (answered, or just closed) when it is too big
        or its framing is ambiguous."""
        end = buffered.find(HEAD_END, 0, self.bounds.max_header_bytes + len(HEAD_END))
        problem: RequestError | None = None
        if end < 0 and len(buffered) > self.bounds.max_header_bytes:
            problem = HeadersTooLarge(f"the request line and headers are over {self.bounds.max_header_bytes} bytes "
                                      "(MAX_HEADER_BYTES)")
        elif end >= 0 and (why := framing_problem(buffered[:end])) is not None:
            problem = InvalidInput(f"{why}; the connection is closed")
        if problem is None:
            return False
        if answer:
            self.refuse(problem)
        else:
            self.transport.close()
        return True

    def refuse(self, exc: RequestError) -> None:
        """Answer `exc` in the JSON error shape and close the connection (no request is running)."""
        self._disarm_head_timer()
        body = json.dumps(exc.to_dict()).encode()
        self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                             b"connection: close\r\n\r\n" % (exc.code, exc.phrase.encode(), len(body)) + body)
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """h11 could not parse the request (malformed request line, header or chunk): a JSON 400, then closed."""
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            self.refuse(InvalidInput("the request is not valid HTTP/1.1 (its request line, a header or the body's "
                                     "chunked framing); the connection is closed"))
        else:
            self.transport.close()


def server_config(app: Any, host: str, port: int, drain_s: float, bounds: Limits | None = None,
                  **kwargs: Any) -> uvicorn.Config:
    """uvicorn's config for the front door: the guarded protocol with `bounds` (default: the environment's limits),
    h11's own buffer bound as a backstop."""
    bounds = bounds or limits()
    protocol = type("GuardedH11Protocol", (GuardedH11Protocol,), {"bounds": bounds})
    return uvicorn.Config(app, host=host, port=port, http=protocol, lifespan="on", log_level="warning",
                          access_log=False, timeout_graceful_shutdown=drain_s, timeout_keep_alive=30,
                          h11_max_incomplete_event_size=bounds.max_header_bytes + 1024, **kwargs)

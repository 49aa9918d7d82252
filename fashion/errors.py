"""Typed request errors: each carries the HTTP status it maps to and a message that says what to do."""
from __future__ import annotations

from typing import Any


class RequestError(Exception):
    """A problem with the caller's input; answered as a 4xx JSON error, never a crashed worker.

    A subclass states its status in its header (`class NotFound(RequestError, code=404, phrase="Not Found")`) or as
    class attributes; one that states neither keeps its parent's."""

    code = 400
    phrase = "Bad Request"

    def __init_subclass__(cls, code: int | None = None, phrase: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.code = code
        if phrase is not None:
            cls.phrase = phrase

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after  # seconds a client should wait before retrying (503s), else None

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "type": type(self).__name__, "message": self.message}}


class InvalidInput(RequestError, code=400, phrase="Bad Request"): ...
class PayloadTooLarge(RequestError, code=413, phrase="Payload Too Large"): ...
class UnsupportedMedia(RequestError, code=415, phrase="Unsupported Media Type"): ...
class Unprocessable(RequestError, code=422, phrase="Unprocessable Entity"): ...
class NotFound(RequestError, code=404, phrase="Not Found"): ...
class MethodNotAllowed(RequestError, code=405, phrase="Method Not Allowed"): ...
class RequestTimeout(RequestError, code=408, phrase="Request Timeout"): ...
class URITooLong(RequestError, code=414, phrase="URI Too Long"): ...
class HeadersTooLarge(RequestError, code=431, phrase="Request Header Fields Too Large"): ...
class NotReady(RequestError, code=503, phrase="Service Unavailable"): ...
class BadGateway(RequestError, code=502, phrase="Bad Gateway"): ...
class GatewayTimeout(RequestError, code=504, phrase="Gateway Timeout"): ...


def error_dict(exc: BaseException) -> dict[str, Any]:
    """The JSON error object for any exception; unexpected ones become a 500 without internals."""
    if isinstance(exc, RequestError):
        return exc.to_dict()
    return {"error": {"code": 500, "type": "InternalError",
                      "message": f"internal error ({type(exc).__name__}); see the server log"}}

"""Typed request errors: each carries the HTTP status it maps to and a message that says what to do."""
from __future__ import annotations

from typing import Any


class RequestError(Exception):
    """A problem with the caller's input; answered as a 4xx JSON error, never a crashed worker."""

    code = 400
    phrase = "Bad Request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "type": type(self).__name__, "message": self.message}}


class InvalidInput(RequestError):
    code, phrase = 400, "Bad Request"


class PayloadTooLarge(RequestError):
    code, phrase = 413, "Payload Too Large"


class UnsupportedMedia(RequestError):
    code, phrase = 415, "Unsupported Media Type"


class Unprocessable(RequestError):
    code, phrase = 422, "Unprocessable Entity"


class NotFound(RequestError):
    code, phrase = 404, "Not Found"


class MethodNotAllowed(RequestError):
    code, phrase = 405, "Method Not Allowed"


class RequestTimeout(RequestError):
    code, phrase = 408, "Request Timeout"


class URITooLong(RequestError):
    code, phrase = 414, "URI Too Long"


class HeadersTooLarge(RequestError):
    code, phrase = 431, "Request Header Fields Too Large"


class NotReady(RequestError):
    code, phrase = 503, "Service Unavailable"


class GatewayTimeout(RequestError):
    code, phrase = 504, "Gateway Timeout"


def error_dict(exc: BaseException) -> dict[str, Any]:
    """The JSON error object for any exception; unexpected ones become a 500 without internals."""
    if isinstance(exc, RequestError):
        return exc.to_dict()
    return {"error": {"code": 500, "type": "InternalError",
                      "message": f"internal error ({type(exc).__name__}); see the server log"}}


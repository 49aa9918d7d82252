"""The prediction routes: /predictions/<model>[/<version>], /wfpredict/<workflow> and Vertex AI's predict route,
forwarded to TorchServe: the body read and checked first, no query string, a raw image handed on as bytes, the
workflow's refusals with their real status, every TorchServe refusal in the error shape."""
from __future__ import annotations

import json
import re

from starlette.requests import Request
from starlette.responses import Response

from fashion.errors import InvalidInput, NotFound, RequestError
from launcher.door import Door, error
from launcher.routes import PUBLIC_MODELS, PUBLIC_WORKFLOWS

UPSTREAM_HEADERS = ("content-type", "x-request-id")
VERSION = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# TorchServe's decoder failures on a malformed body: the caller's fault, whatever status TorchServe gives
CALLER_FAULTS = ("ErrorDataDecoderException", "BadRequestException", "TooLongFrameException")


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


class PredictRoutes:
    def __init__(self, door: Door) -> None:
        self.door, self.settings = door, door.settings
        self.predict_limit = (f"Vertex AI shared endpoints accept at most {self.settings.predict_route_max_bytes} "
                              "bytes. Resize the images before sending (`python -m client --max-bytes ...` does it) "
                              "or deploy to a dedicated endpoint and set FASHION_PREDICT_MAX_BYTES=0")

    async def forward(self, request: Request, path: str, body_limit: int, why: str) -> Response:
        if (refused := self.door.not_ready()) is not None:
            return refused
        content_type = request.headers.get("content-type")
        try:
            if request.url.query:
                raise InvalidInput(f"{request.url.path} reads no query string: send options in the body (JSON keys "
                                   'beside the image, {"parameters": {...}} in the Vertex shape, or form fields)')
            body = await self.door.body(request, body_limit, why)
        except RequestError as exc:
            return error(exc)

        async def upstream() -> Response:
            client = self.door.state.client
            assert client is not None
            headers = {"Content-Type": upstream_content_type(content_type)}
            if "authorization" in request.headers:  # TorchServe's token, when an operator turns it on
                headers["Authorization"] = request.headers["authorization"]
            r = await client.post(path, content=body, headers=headers)
            status, content = r.status_code, r.content
            if path.startswith("/wfpredict/"):
                status = workflow_status(status, content)
            if status >= 400 and (rewritten := upstream_error(status, content)) is not None:
                status, content = rewritten
                return Response(content, status, media_type="application/json")
            return Response(content, status, headers={k: r.headers[k] for k in UPSTREAM_HEADERS if k in r.headers})

        return await self.door.guarded(path, upstream)

    async def predictions(self, request: Request) -> Response:
        model, version = request.path_params["model"], request.path_params.get("version")
        if model not in PUBLIC_MODELS:
            return error(NotFound(f"no public model {model[:64]!r}; the models are {list(PUBLIC_MODELS)}"))
        if version is not None and not VERSION.fullmatch(version):
            return error(NotFound(f"no version {version[:64]!r} of {model}"))
        return await self.forward(request, request.url.path, self.settings.max_request_bytes, self.door.general_limit)

    async def workflow(self, request: Request) -> Response:
        name = request.path_params["workflow"]
        if name not in PUBLIC_WORKFLOWS:
            return error(NotFound(f"no workflow {name[:64]!r}; the workflows are {list(PUBLIC_WORKFLOWS)}"))
        return await self.forward(request, request.url.path, self.settings.max_request_bytes, self.door.general_limit)

    async def predict(self, request: Request) -> Response:
        s = self.settings
        limit = min(s.predict_route_max_bytes or s.max_request_bytes, s.max_request_bytes)
        return await self.forward(request, s.predict_target, limit,
                                  self.predict_limit if s.predict_route_max_bytes else self.door.general_limit)

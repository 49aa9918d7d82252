"""A v2 inference request run through the same pipeline as /predictions: turned into the body TorchServe's handlers
read (one image as /predictions takes a photo; several as {"instances": [{"b64": ...}], "parameters": {options}};
{"text": [...]} for the embedder), sent
within the same in-flight bound as the model's own route (launcher.door), and its answer turned back into named
tensors. REST (launcher.v2_route) and gRPC (launcher.v2_grpc) both call V2Service."""
from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

import numpy as np

from fashion.errors import BadGateway, InvalidInput, NotReady, RequestError
from launcher.door import Door
from launcher.predict_route import upstream_error, workflow_status
from launcher.v2_protocol import (EMBEDDING, IMAGE, OPTIONS, RESPONSE, TEXT, InferAnswer, InferRequest,
                                  OutputTensor, too_large)


class Refused(RequestError):
    """The model server's refusal, with its own status."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def request_options(request: InferRequest) -> dict[str, Any]:
    """The request's options: its parameters and its `options` input (a JSON object), which may not disagree."""
    options = dict(request.parameters)
    given = request.input(OPTIONS)
    if given is not None:
        if len(given.elements) != 1:
            raise InvalidInput(f"input {OPTIONS!r} holds one JSON object (shape [1])")
        raw = given.elements[0]
        try:
            extra = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput(f"input {OPTIONS!r} is not JSON: send a JSON object such as "
                               '{"mask_format": "none"}') from None
        if not isinstance(extra, dict):
            raise InvalidInput(f"input {OPTIONS!r} must be a JSON object of options")
        clash = sorted(k for k in set(extra) & set(options) if extra[k] != options[k])
        if clash:
            raise InvalidInput(f"options {clash} differ between the request's parameters and the {OPTIONS!r} input")
        options.update(extra)
    names = [o.name for o in request.outputs]
    if names == [EMBEDDING] and "embedding_only" not in options and request.input(TEXT) is None:
        options["embedding_only"] = True  # only the embedding is read: skip the rest
    return options


def _image(element: bytes | str) -> dict[str, str]:
    if isinstance(element, bytes):
        return {"b64": base64.b64encode(element).decode("ascii")}
    if element.startswith(("http://", "https://")):
        return {"url": element}
    return {"b64": element}


@dataclasses.dataclass(frozen=True)
class Upstream:
    """What goes to the model server: one image as /predictions takes a photo (its bytes, or {"b64", options}), so
    its answer is that route's own bytes; several as Vertex AI instances; texts as the embedder's text body."""
    body: bytes
    content_type: str
    single: bool  # one image: the answer is that image's JSON, not {"predictions": [...]}


def upstream_body(request: InferRequest, limit: int) -> Upstream:
    """The body the handlers read for this request, within MAX_REQUEST_BYTES."""
    model, images, texts = request.model, request.input(IMAGE), request.input(TEXT)
    unknown = [o.name for o in request.outputs if o.name not in {n for n, _, _ in model.outputs}]
    if unknown:
        raise InvalidInput(f"{model.name} has no output {unknown[0][:40]!r}; its outputs are "
                           f"{[n for n, _, _ in model.outputs]}")
    if texts is not None and not model.reads_text:
        raise InvalidInput(f"{model.name} takes no {TEXT!r} input; the embedder embeds texts")
    if (images is None) == (texts is None):
        raise InvalidInput(f"send one of the inputs {IMAGE!r} (images)"
                           + (f" or {TEXT!r} (texts)" if model.reads_text else ""))
    options = request_options(request)
    single = images is not None and len(images.elements) == 1
    if single and isinstance(images.elements[0], bytes) and not options:
        body, content_type = images.elements[0], "application/octet-stream"
    else:
        if texts is not None:
            payload: dict[str, Any] = {**options, "text": [t.decode("utf-8", "replace") if isinstance(t, bytes)
                                                           else t for t in texts.elements]}
        else:
            assert images is not None
            if not images.elements:
                raise InvalidInput(f"input {IMAGE!r} holds no image")
            payload = ({**_image(images.elements[0]), **options} if single else
                       {"instances": [_image(e) for e in images.elements], "parameters": options})
        body, content_type = json.dumps(payload, separators=(",", ":")).encode(), "application/json"
    if len(body) > limit:
        raise too_large(len(body), limit)
    return Upstream(body, content_type, single)


def _embeddings(rows: list[Any]) -> np.ndarray | None:
    """FP32 [n, d] from each answer's embedding (zeros where an image's answer is an error); None if none has one."""
    present = [r for r in rows if isinstance(r, list)]
    if not present:
        return None
    width = len(present[0])
    return np.array([r if isinstance(r, list) else [0.0] * width for r in rows], dtype=np.float32)


def answer_tensors(request: InferRequest, payload: Any, as_sent: bytes | None = None) -> InferAnswer:
    """The model server's JSON answer -> the requested output tensors. `as_sent`: one image's answer as the model
    server wrote it, passed on as its `response` element unchanged."""
    if request.input(TEXT) is not None:
        vectors = np.asarray(payload["embeddings"], dtype=np.float32)
        raw = {RESPONSE: OutputTensor(RESPONSE, "BYTES", (1,), (json.dumps(payload, separators=(",", ":")).encode(),)),
               EMBEDDING: OutputTensor(EMBEDDING, "FP32", vectors.shape, vectors)}
    else:
        results = payload["predictions"]
        if len(results) == 1 and isinstance(results[0], dict) and isinstance(results[0].get("error"), dict):
            error = results[0]["error"]  # one image: its error is the request's, as /predictions answers it
            raise Refused(int(error.get("code", 400)), str(error.get("message", "the image was refused")))
        rows = ((as_sent,) if as_sent is not None else
                tuple(json.dumps(r, separators=(",", ":")).encode() for r in results))
        raw = {RESPONSE: OutputTensor(RESPONSE, "BYTES", (len(results),), rows)}
        vectors = _embeddings([r.get(EMBEDDING) if isinstance(r, dict) else None for r in results])
        if vectors is not None:
            raw[EMBEDDING] = OutputTensor(EMBEDDING, "FP32", vectors.shape, vectors)
    names = [o.name for o in request.outputs] or [n for n, _, _ in request.model.outputs if n in raw]
    missing = [n for n in names if n not in raw]
    if missing:
        raise InvalidInput(f"no {missing[0]!r} in this answer: the options left it out (include, embedding_only)")
    return InferAnswer(request.model, tuple(raw[n] for n in names), request.id)


class V2Service:
    """Readiness and inference for both v2 transports, through the front door's Door."""

    def __init__(self, door: Door) -> None:
        self.door = door

    async def ready(self) -> bool:
        return await self.door.state.healthy()

    def refuse_unless_ready(self) -> None:
        """NotReady (503, retry in 5 s) while the models load."""
        if not self.door.state.ready:
            raise NotReady("the models are loading; retry shortly", retry_after=5)

    async def infer(self, request: InferRequest, authorization: str | None = None) -> InferAnswer:
        """Run `request`; a RequestError (with its status) when it is refused."""
        self.refuse_unless_ready()
        upstream = upstream_body(request, self.door.settings.max_request_bytes)
        path, workflow = request.model.path, request.model.path.startswith("/wfpredict/")

        async def call() -> bytes:
            client = self.door.state.client
            assert client is not None
            headers = {"Content-Type": upstream.content_type}
            if authorization:
                headers["Authorization"] = authorization
            r = await client.post(path, content=upstream.body, headers=headers)
            status, content = r.status_code, r.content
            if workflow:
                status = workflow_status(status, content)
            if status >= 400:
                rewritten = upstream_error(status, content)
                status, content = rewritten or (status, content)
                error = json.loads(content)["error"]
                raise Refused(status, str(error.get("message") or f"HTTP {status}"))
            return content

        content = await self.door.bounded(path, call)
        try:
            payload = json.loads(content)
            if upstream.single:
                return answer_tensors(request, {"predictions": [payload]}, content if isinstance(payload, dict)
                                      and "error" not in payload else None)
            return answer_tensors(request, payload)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise BadGateway(f"{request.model.name} answered in an unexpected shape; see the server log") from None


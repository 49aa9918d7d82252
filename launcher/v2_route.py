"""The Open Inference Protocol (KServe v2) over REST: /v2 (server metadata), /v2/health/live|ready, and per model
/v2/models/<model>[/versions/<version>] (metadata), .../ready and .../infer. The body is read within the same size
and time limits as /predictions, before an in-flight slot is taken; refusals keep their status codes and come in
v2's error shape, {"error": "<message>"}."""
from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from fashion.errors import InvalidInput, NotReady, RequestError
from launcher.door import Door, error, json_response, read_body
from launcher.v2_infer import V2Service
from launcher.v2_protocol import (BINARY_HEADER, model_metadata, read_rest_request, server_metadata, v2_model,
                                  write_rest_answer)

V2_PREFIX = "/v2"


class V2Routes:
    def __init__(self, door: Door) -> None:
        self.door, self.service = door, V2Service(door)

    async def v2_server(self, request: Request) -> Response:
        return json_response(server_metadata())

    async def v2_live(self, request: Request) -> Response:
        return json_response({"live": True})

    async def v2_ready(self, request: Request) -> Response:
        if await self.service.ready():
            return json_response({"ready": True})
        return error(NotReady("the models are loading, or the model server stopped answering", retry_after=5),
                     v2=True)

    async def v2_model(self, request: Request) -> Response:
        try:
            model = v2_model(request.path_params["model"], request.path_params.get("version"))
        except RequestError as exc:
            return error(exc, v2=True)
        return json_response(model_metadata(model))

    async def v2_model_ready(self, request: Request) -> Response:
        try:
            model = v2_model(request.path_params["model"], request.path_params.get("version"))
        except RequestError as exc:
            return error(exc, v2=True)
        if await self.service.ready():
            return json_response({"name": model.name, "ready": True})
        return error(NotReady(f"{model.name} is not ready: the models are loading, or the model server stopped "
                                 "answering", retry_after=5), v2=True)

    async def v2_infer(self, request: Request) -> Response:
        settings = self.door.settings
        try:
            model = v2_model(request.path_params["model"], request.path_params.get("version"))
            if request.url.query:
                raise InvalidInput(f"{request.url.path[:120]} reads no query string: options go in the request's "
                                   "'parameters' or its 'options' input")
            self.service.refuse_unless_ready()  # before the body is read
            body = await read_body(request, settings.max_request_bytes, self.door.general_limit,
                                   self.door.bounds.body_timeout_s)
            infer = read_rest_request(body, request.headers.get(BINARY_HEADER), model)
            answer = await self.service.infer(infer, request.headers.get("authorization"))
        except RequestError as exc:
            return error(exc, v2=True)
        content, header_length = write_rest_answer(answer, infer)
        if header_length is None:
            return Response(content, 200, media_type="application/json")
        return Response(content, 200, headers={BINARY_HEADER: str(header_length)},
                        media_type="application/octet-stream")

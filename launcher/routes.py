"""The front door's route table: every route it answers, and its OpenAPI description written from the same table.

Nothing else is reachable from the public port: the public models are the registry's served models (the three
models and the ensemble) and its workflow; workflow nodes (fashion__segmenter, ...), TorchServe's management,
metrics and description APIs, and any other path answer 404 in the error shape.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from fashion.models import SERVED, WORKFLOW
from fashion.schema import response_schema
from launcher.search_route import QUERY_KEYS as SEARCH_QUERY
from launcher.search_route import THUMBNAIL_PATH
from launcher.settings import FrontDoorSettings
from launcher.thumbnail_route import QUERY_KEYS as THUMBNAIL_QUERY
from launcher.v2_protocol import V2_MODELS

WEB = Path(__file__).with_name("web")
WEB_FILES: tuple[str, ...] = tuple(sorted(p.name for p in WEB.iterdir() if p.name != "index.html"))  # /web/{file}
PUBLIC_MODELS: tuple[str, ...] = SERVED
PUBLIC_WORKFLOWS: tuple[str, ...] = (WORKFLOW,)
IMAGE_BODIES = ("image/*", "application/octet-stream", "application/json", "multipart/form-data")


@dataclasses.dataclass(frozen=True)
class RouteSpec:
    path: str  # a Starlette path template
    methods: tuple[str, ...]
    endpoint: str  # the name of the handler the app binds to it
    summary: str
    bodies: tuple[str, ...] = ()  # accepted media types; none: no body
    enums: tuple[tuple[str, tuple[str, ...]], ...] = ()  # path parameter -> its allowed values
    query: tuple[str, ...] = ()  # query parameters read (any other is refused)
    returns: str = "application/json"
    errors: str = "Error"  # the schema of its refusals: the error shape, or V2Error (the Open Inference Protocol's)


def route_table(settings: FrontDoorSettings) -> tuple[RouteSpec, ...]:
    """Every route of the front door, in matching order."""
    models = (("model", PUBLIC_MODELS),)
    return (
        RouteSpec(settings.health_route, ("GET",), "health", "Readiness: 200 once the models answer, else 503"),
        RouteSpec(settings.predict_route, ("POST",), "predict",
                  f"Vertex AI's predict route: the same request and answer as {settings.predict_target}",
                  IMAGE_BODIES),
        RouteSpec("/ping", ("GET",), "ping", "TorchServe's liveness, as TorchServe answers it"),
        RouteSpec("/frontdoor/stats", ("GET",), "stats", "Readiness and each endpoint's in-flight bound and load"),
        RouteSpec("/predictions/{model}", ("POST", "PUT"), "predictions",
                  "One image or a batch through one public model or the ensemble (fashion)", IMAGE_BODIES, models),
        RouteSpec("/predictions/{model}/{version}", ("POST", "PUT"), "predictions",
                  "The same, naming the model's version", IMAGE_BODIES, models),
        RouteSpec("/wfpredict/{workflow}", ("POST", "PUT"), "workflow",
                  "One image or a batch through the workflow", IMAGE_BODIES, (("workflow", PUBLIC_WORKFLOWS),)),
        RouteSpec("/search", ("POST",), "search", "Similar catalogue products to a text, a vector or an image",
                  ("application/json", "image/*", "application/octet-stream"), query=SEARCH_QUERY),
        RouteSpec(THUMBNAIL_PATH, ("GET",), "thumbnail", "A search hit's product picture (JPEG), read from the image "
                  "the catalogue index names for that id", query=THUMBNAIL_QUERY, returns="image/jpeg"),
        *v2_routes(),
        RouteSpec("/openapi.json", ("GET",), "openapi", "This description"),
        RouteSpec("/", ("GET",), "page", "The web page", returns="text/html"),
        RouteSpec("/web/{file}", ("GET",), "static", "The web page's script and style sheet",
                  enums=(("file", WEB_FILES),),
                  returns="*/*"),
    )


def v2_routes() -> tuple[RouteSpec, ...]:
    """The Open Inference Protocol (KServe v2) over REST (launcher.v2_route): the public models, the ensemble and
    the workflow (as fashion-workflow), each also under /versions/<version>."""
    models = (("model", tuple(V2_MODELS)),)
    v2 = "Open Inference Protocol (KServe v2): "
    routes = [RouteSpec("/v2", ("GET",), "v2_server", v2 + "server metadata", errors="V2Error"),
              RouteSpec("/v2/health/live", ("GET",), "v2_live", v2 + "liveness", errors="V2Error"),
              RouteSpec("/v2/health/ready", ("GET",), "v2_ready", v2 + "readiness (503 until the models answer)",
                        errors="V2Error")]
    for base in ("/v2/models/{model}", "/v2/models/{model}/versions/{version}"):
        routes += [
            RouteSpec(base, ("GET",), "v2_model", v2 + "a model's metadata: its input and output tensors",
                      enums=models, errors="V2Error"),
            RouteSpec(base + "/ready", ("GET",), "v2_model_ready", v2 + "a model's readiness", enums=models,
                      errors="V2Error"),
            RouteSpec(base + "/infer", ("POST",), "v2_infer", v2 + "inference: images as the BYTES tensor 'image' "
                      "(JSON, or binary data after the JSON part whose length Inference-Header-Content-Length "
                      "gives); outputs 'response' (BYTES, one JSON answer per image) and 'embedding' (FP32 [n, d])",
                      ("application/json", "application/octet-stream"), enums=models, errors="V2Error")]
    return tuple(routes)


V2_ERROR_SCHEMA: dict[str, Any] = {"type": "object", "required": ["error"],
                                   "properties": {"error": {"type": "string", "minLength": 1}}}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "type", "message"], "properties": {
        "code": {"type": "integer", "minimum": 400, "maximum": 599}, "type": {"type": "string"},
        "message": {"type": "string"}}}}}


def _operation(route: RouteSpec, method: str) -> dict[str, Any]:
    parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string", "enum": list(values)}}
                  for name, values in route.enums]
    parameters += [{"name": p, "in": "path", "required": True, "schema": {"type": "string",
                                                                         "pattern": "^[A-Za-z0-9_.-]{1,64}$"}}
                   for p in _path_params(route.path) if p not in dict(route.enums)]
    parameters += [{"name": q, "in": "query", "required": False, "schema": {"type": "string"}} for q in route.query]
    error = {"description": "refused: the error shape", "content": {"application/json": {"schema": {
        "$ref": f"#/components/schemas/{route.errors}"}}}}
    op: dict[str, Any] = {
        "operationId": f"{route.endpoint}_{method.lower()}_{len(_path_params(route.path))}",
        "summary": route.summary, "parameters": parameters,
        "responses": {"200": {"description": "the answer", "content": {route.returns: {"schema": {}}}},
                      "4XX": error, "503": error, "504": error}}
    if route.bodies:
        op["requestBody"] = {"required": True, "content": {
            kind: {"schema": {"type": "object"} if kind == "application/json" else
                   {"type": "string", "format": "binary"}} for kind in route.bodies}}
    return op


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


def openapi(settings: FrontDoorSettings) -> dict[str, Any]:
    """The OpenAPI 3.1 description of the front door (served at /openapi.json)."""
    paths: dict[str, dict[str, Any]] = {}
    for route in route_table(settings):
        for method in route.methods:
            paths.setdefault(route.path, {})[method.lower()] = _operation(route, method)
    return {"openapi": "3.1.0",
            "info": {"title": "fashion-serve front door", "version": "1",
                     "description": "Garment masks, embeddings and product metadata for fashion photos. Every "
                                    "refusal is a 4xx in the error shape; one image's answer is "
                                    "components.schemas.ImageResponse (fashion.schema, from the registry)."},
            "paths": paths, "components": {"schemas": {"Error": ERROR_SCHEMA, "V2Error": V2_ERROR_SCHEMA,
                                          "ImageResponse": image_response()}}}


def image_response() -> dict[str, Any]:
    """The response contract (fashion.schema), its internal references rewritten to this document's root."""
    text = json.dumps(response_schema()).replace('"#/$defs/', '"#/components/schemas/ImageResponse/$defs/')
    return json.loads(text)

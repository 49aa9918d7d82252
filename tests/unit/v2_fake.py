"""A fake TorchServe for the KServe v2 tests (REST and gRPC): Vertex-style instances in, predictions out; an image
b"bad" is refused inside the batch, max_garments 0 by TorchServe itself; text gets unit embeddings."""
from __future__ import annotations

import base64
import json
from typing import Any

import httpx

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(200))
SEEN: list[dict[str, Any]] = []


def answer(instance: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    raw = base64.b64decode(instance["b64"])
    if raw == b"bad":
        return {"error": {"code": 400, "type": "InvalidInput", "message": "the image does not decode"}}
    out: dict[str, Any] = {"image": {"width": len(raw), "height": 1}}
    if not parameters.get("embedding_only"):
        out["garments"] = []
    out["embedding"] = [0.6, 0.8] if "embedding" in parameters.get("include", ["embedding"]) else None
    return {k: v for k, v in out.items() if v is not None}


async def fake_torchserve(request: httpx.Request) -> httpx.Response:
    """As the handlers read a body: a photo's bytes or {"b64", options} (one image: its answer alone, a refusal as
    the request's status), {"instances", "parameters"} (a batch), {"text"} (the embedder). SEEN records each call
    with its shape ("raw", "single", "instances", "text"), its instances and its options."""
    if request.url.path == "/ping":
        return httpx.Response(200, json={"status": "Healthy"})
    if not request.content.startswith(b"{"):
        body: dict[str, Any] = {"b64": base64.b64encode(request.content).decode()}
        shape = "raw"
    else:
        body = json.loads(request.content)
        shape = next((k for k in ("text", "instances") if k in body), "single")
    if shape == "text":
        SEEN.append({"path": request.url.path, "shape": shape, "body": body})
        return httpx.Response(200, json={"embeddings": [[1.0, 0.0]] * len(body["text"]), "models": []})
    instances = body["instances"] if shape == "instances" else [{"b64": body["b64"]}]
    parameters = body["parameters"] if shape == "instances" else {k: v for k, v in body.items() if k != "b64"}
    SEEN.append({"path": request.url.path, "shape": shape, "body": body, "instances": instances,
                 "parameters": parameters})
    if parameters.get("max_garments") == 0:  # TorchServe's own refusal shape
        return httpx.Response(400, json={"code": 400, "type": "InvalidInput", "message": "max_garments 0"})
    answers = [answer(i, parameters) for i in instances]
    if shape == "instances":
        return httpx.Response(200, json={"predictions": answers})
    error = answers[0].get("error")
    return httpx.Response(error["code"] if error else 200, json=answers[0])

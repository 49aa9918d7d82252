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
    if request.url.path == "/ping":
        return httpx.Response(200, json={"status": "Healthy"})
    body = json.loads(request.content)
    SEEN.append({"path": request.url.path, "body": body})
    if "text" in body:
        return httpx.Response(200, json={"embeddings": [[1.0, 0.0]] * len(body["text"]), "models": []})
    if body["parameters"].get("max_garments") == 0:  # TorchServe's own refusal shape
        return httpx.Response(400, json={"code": 400, "type": "InvalidInput", "message": "max_garments 0"})
    return httpx.Response(200, json={"predictions": [answer(i, body["parameters"]) for i in body["instances"]]})

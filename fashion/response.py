"""encode: an envelope -> the response contract's JSON (fashion.schema), the one place a response is built.

Each registry model's stage writes its part of an image's response from the outputs it computed
(`Stage.respond`); this module orders the sections (fashion.models.SECTIONS), adds the `models` provenance and
wraps the results in the request's shape. The handlers only serialise what comes out (dumps).
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from fashion import models as registry
from fashion.errors import error_dict
from fashion.request.options import Options
from fashion.results import TextEmbeddings

if TYPE_CHECKING:
    from fashion.results import Envelope, ImageResult

EMBEDDING_DECIMALS = 6


def vector_json(v: np.ndarray) -> list:
    """Float32 vectors as JSON numbers rounded to EMBEDDING_DECIMALS (short, exact enough for cosine)."""
    return np.round(v.astype(np.float64), EMBEDDING_DECIMALS).tolist()


def build_response(result: ImageResult, options: Options, models: list[dict[str, Any]]) -> dict[str, Any]:
    """One image's response: each section the request's plan emits, where a model computed it, in section order."""
    parts: dict[str, Any] = {}
    for stage in registry.stage_classes():
        stage.respond(result, options, parts)
    size = result.picture.size
    out: dict[str, Any] = {"image": {"width": size[0], "height": size[1]}}
    out.update((name, parts[name]) for name in registry.SECTION_NAMES if name in parts)
    out["models"] = models
    return out


def _ordered(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Provenance entries in the registry's order (the order of a response's `models`)."""
    rank = {name: i for i, name in enumerate(registry.NAMES)}
    return sorted(models, key=lambda m: rank.get(m.get("name"), len(rank)))


def shaped(shape: str, results: list[dict[str, Any]]) -> tuple[Any, int]:
    """Per-image results -> (JSON payload, HTTP status) in the request's shape. A single image's error sets the
    status."""
    if shape == "vertex":
        return {"predictions": results}, 200
    if shape == "list":
        return results, 200
    result = results[0]
    status = result["error"]["code"] if isinstance(result, dict) and "error" in result else 200
    return result, status


def encode(env: Envelope) -> tuple[Any, int]:
    """An envelope -> (JSON payload, HTTP status) in the request's own shape."""
    if env.error is not None:
        return env.error, env.error["error"]["code"]
    texts = env.get(TextEmbeddings)  # the answer to a {"text": [...]} request
    if texts is not None:
        return {"embeddings": vector_json(texts.vectors), "models": [texts.model]}, 200
    models = _ordered(env.models)
    results = []
    for it in env.items:
        if it.error is not None:
            results.append({"error": it.error["error"]})
            continue
        try:
            results.append(build_response(it, env.options, models))
        except Exception as exc:  # one image's encoding failure must not fail its neighbours
            results.append(error_dict(exc))
    return shaped(env.shape, results)


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()

"""encode: pipeline results -> the response contract's JSON (see schemas/response.schema.json)."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from fashion.masks import polygons
from fashion.options import Options
from fashion.segment import Garment

if TYPE_CHECKING:
    from fashion.envelope import ImageResult

EMBEDDING_DECIMALS = 6


def vector_json(v: np.ndarray) -> list:
    """Float32 vectors as JSON numbers rounded to EMBEDDING_DECIMALS (short, exact enough for cosine)."""
    return np.round(v.astype(np.float64), EMBEDDING_DECIMALS).tolist()


def encode_garment(g: Garment, embedding: np.ndarray | None, options: Options,
                   tags: list[dict[str, Any]] | None = None, prompt_score: float | None = None,
                   selected: bool | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"label": g.label, "score": round(g.score, 4),
                           "box": [round(v, 1) for v in g.box], "area": g.area, "colour": g.colour}
    if options.mask_format == "rle":
        out["mask"] = g.rle
    elif options.mask_format == "polygon":
        out["mask"] = {"size": list(g.mask.shape), "polygons": polygons(g.mask)}
    if embedding is not None:
        out["embedding"] = vector_json(embedding)
    if tags is not None:
        out["tags"] = tags
    if prompt_score is not None:
        out["prompt_score"], out["selected"] = prompt_score, bool(selected)
    return out


def build_response(result: ImageResult, options: Options, models: list[dict[str, Any]]) -> dict[str, Any]:
    """One image's response: each section the request's plan emits, where a model computed it."""
    plan = options.plan
    out: dict[str, Any] = {"image": {"width": result.size[0], "height": result.size[1]}}
    garments, prompt = result.garments, result.prompt
    if garments is not None and plan.emits("garments"):
        embs = result.garment_embeddings if result.garment_embeddings is not None else [None] * len(garments)
        per = result.garment_tags if result.garment_tags is not None else [None] * len(garments)
        scores = prompt["scores"] if prompt is not None else [None] * len(garments)
        chosen = prompt["selected"] if prompt is not None else None
        out["garments"] = [encode_garment(g, e, options, t, s, None if s is None else n == chosen)
                           for n, (g, e, t, s) in enumerate(zip(garments, embs, per, scores))]
    if result.embedding is not None and plan.emits("embedding"):
        out["embedding"] = vector_json(result.embedding)
    if result.metadata is not None and plan.emits("metadata"):
        out["metadata"] = result.metadata
    if result.tags is not None and plan.emits("tags"):
        out["tags"] = result.tags
    if prompt is not None and plan.emits("prompt"):
        out["prompt"] = {k: prompt[k] for k in ("text", "selected", "threshold")}
    out["models"] = models
    return out


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


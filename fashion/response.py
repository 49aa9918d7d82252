"""encode: pipeline results -> the response contract's JSON (see schemas/response.schema.json)."""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from fashion.masks import polygons
from fashion.options import Options
from fashion.segment import Garment

EMBEDDING_DECIMALS = 6


def vector_json(v: np.ndarray) -> list:
    """Float32 vectors as JSON numbers rounded to EMBEDDING_DECIMALS (short, exact enough for cosine)."""
    return np.round(v.astype(np.float64), EMBEDDING_DECIMALS).tolist()


def encode_garment(g: Garment, embedding: np.ndarray | None, options: Options,
                   tags: list[dict[str, Any]] | None = None, prompt_score: float | None = None,
                   selected: bool | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"label": g.label, "score": round(g.score, 4),
                           "box": [round(v, 1) for v in g.box], "area": int(g.mask.sum()), "colour": g.colour}
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


def build_response(size: tuple[int, int], options: Options, models: list[dict[str, Any]],
                   garments: list[Garment] | None = None, garment_embeddings: np.ndarray | None = None,
                   embedding: np.ndarray | None = None, metadata: dict[str, Any] | None = None,
                   tags: list[dict[str, Any]] | None = None,
                   garment_tags: list[list[dict[str, Any]]] | None = None,
                   prompt: dict[str, Any] | None = None) -> dict[str, Any]:
    """One image's response: each section the options ask for and a model computed."""
    out: dict[str, Any] = {"image": {"width": size[0], "height": size[1]}}
    if garments is not None and not options.embedding_only and options.wants("garments"):
        embs = garment_embeddings if garment_embeddings is not None else [None] * len(garments)
        per = garment_tags if garment_tags is not None else [None] * len(garments)
        scores = prompt["scores"] if prompt is not None else [None] * len(garments)
        chosen = prompt["selected"] if prompt is not None else None
        out["garments"] = [encode_garment(g, e, options, t, s, None if s is None else n == chosen)
                           for n, (g, e, t, s) in enumerate(zip(garments, embs, per, scores))]
    if embedding is not None and (options.embedding_only or options.wants("embedding")):
        out["embedding"] = vector_json(embedding)
    if metadata is not None and not options.embedding_only and options.wants("metadata"):
        out["metadata"] = metadata
    if tags is not None and not options.embedding_only:
        out["tags"] = tags
    if prompt is not None and not options.embedding_only:
        out["prompt"] = {k: prompt[k] for k in ("text", "selected", "threshold")}
    out["models"] = models
    return out


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


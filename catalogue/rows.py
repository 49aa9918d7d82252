"""encode: one image's answer (or refusal) -> one output row; the output's columns are defined here only."""
from __future__ import annotations

from typing import Any

import pyarrow as pa

from catalogue.sources import Record

METADATA_FIELDS = ("gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "usage",
                   "productDisplayName")
GARMENT_FIELDS = tuple(f"metadata_{f}" for f in METADATA_FIELDS)  # a garment's own metadata (null: unknown)


def _label(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("label")
    return None if value is None else str(value)


def embedder_id(provenance: dict[str, Any]) -> str | None:
    """Which embedder made a vector ("fashion-tinyvit-5m local:embedder.pt"): vectors of two never mix."""
    if not provenance:
        return None
    random = " (random weights)" if provenance.get("random_weights") else ""
    return f"{provenance.get('architecture')} {provenance.get('weights')}{random}"


def answered(record: Record, result: dict[str, Any]) -> dict[str, Any]:
    """A row from one image's response object (the response contract's shape)."""
    meta = result.get("metadata") or {}
    garments = [{"label": g["label"], "score": g["score"], "box": g["box"], "area": g.get("area"),
                 "colour": (g.get("colour") or {}).get("name"), "colour_hex": (g.get("colour") or {}).get("hex"),
                 "mask": g["mask"] if isinstance(g.get("mask"), dict) and "counts" in g["mask"] else None,
                 "embedding": g.get("embedding"),
                 **{c: _label((g.get("metadata") or {}).get(f)) for c, f in zip(GARMENT_FIELDS, METADATA_FIELDS)}}
                for g in result.get("garments") or []]
    embedder = next((m for m in result.get("models", []) if m.get("name") == "embedder"), {})
    return {"id": record.id, "source": record.source, "status": "ok", "error_code": None, "error_type": None,
            "error_message": None, "width": result.get("image", {}).get("width"),
            "height": result.get("image", {}).get("height"), "embedding": result.get("embedding"),
            **{f: _label(meta.get(f)) for f in METADATA_FIELDS}, "metadata_source": meta.get("source"),
            "scene": _label(meta.get("scene")), "garments": garments if "garments" in result else None,
            "embedder": embedder_id(embedder)}


def refused(record: Record, error: dict[str, Any]) -> dict[str, Any]:
    """A row for an image the service (or the job) refused: its code, type and message; nothing else."""
    return {"id": record.id, "source": record.source, "status": "refused", "error_code": int(error.get("code", 400)),
            "error_type": error.get("type"), "error_message": str(error.get("message", ""))[:2000],
            "width": None, "height": None, "embedding": None, **{f: None for f in METADATA_FIELDS},
            "metadata_source": None, "scene": None, "garments": None, "embedder": None}


def schema(dim: int) -> pa.Schema:
    """The Parquet schema: embeddings as float32 fixed-size lists of the embedder's dimension."""
    vector = pa.list_(pa.float32(), dim)
    garment = pa.struct([("label", pa.string()), ("score", pa.float32()), ("box", pa.list_(pa.float32(), 4)),
                         ("area", pa.int64()), ("colour", pa.string()), ("colour_hex", pa.string()),
                         ("mask", pa.struct([("size", pa.list_(pa.int32(), 2)), ("counts", pa.string())])),
                         ("embedding", vector), *[(c, pa.string()) for c in GARMENT_FIELDS]])
    return pa.schema([("id", pa.string()), ("source", pa.string()), ("status", pa.string()),
                      ("error_code", pa.int32()), ("error_type", pa.string()), ("error_message", pa.string()),
                      ("width", pa.int32()), ("height", pa.int32()), ("embedding", vector),
                      *[(f, pa.string()) for f in METADATA_FIELDS], ("metadata_source", pa.string()),
                      ("scene", pa.string()), ("garments", pa.list_(garment)), ("embedder", pa.string())])


def embedding_dim(rows: list[dict[str, Any]], default: int = 256) -> int:
    return next((len(r["embedding"]) for r in rows if r.get("embedding")), default)

"""Files for Google's own engines, for catalogues larger than one machine:
- instances JSONL for Vertex AI batch prediction with this same container ({"id", "b64"} per line: the handler
  reads the image and ignores the id, which Vertex echoes back beside each prediction);
- the batch job's output (prediction.results-* files of {"instance", "prediction"} lines) -> our rows;
- Vertex AI Vector Search's JSON input ({"id", "embedding", "restricts"} per line) from an enrichment.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, Iterator

from catalogue import rows
from catalogue.enrich import read_image
from catalogue.filters import PRODUCT_FIELDS
from catalogue.sources import Record

# Restricts: the namespaces are the fields `catalogue search --where` filters on (catalogue.filters), so a filter
# written for our index reads the same on Vertex: the product's metadata, and a garment's `label` and own
# `garment.<field>` metadata; plus `kind` (image or garment).
RESTRICT_FIELDS = PRODUCT_FIELDS


def write_instances(records: list[Record], out: Path) -> tuple[int, list[dict[str, Any]]]:
    """One instance per readable record; the unreadable ones come back as refused rows."""
    written, refused = 0, []
    with Path(out).open("w") as f:
        for rec in records:
            data = read_image(rec, None) if not rec.is_url else None
            if isinstance(data, dict):
                refused.append(rows.refused(rec, data))
                continue
            inst = {"id": rec.id, "url": rec.source} if rec.is_url else \
                {"id": rec.id, "b64": base64.b64encode(data).decode()}
            f.write(json.dumps(inst) + "\n")
            written += 1
    return written, refused


def _result_lines(path: Path) -> Iterator[dict[str, Any]]:
    files = sorted(Path(path).rglob("prediction.results-*")) if Path(path).is_dir() else [Path(path)]
    for file in files:
        for line in file.read_text().splitlines():
            if line.strip():
                yield json.loads(line)


def import_results(path: Path) -> list[dict[str, Any]]:
    """Vertex batch prediction output -> rows (its error lines become refused rows)."""
    out = []
    for line in _result_lines(path):
        inst = line.get("instance") or {}
        rec = Record(str(inst.get("id")), inst.get("url") or "vertex-batch")
        pred = line.get("prediction")
        if isinstance(pred, dict) and "error" not in pred:
            out.append(rows.answered(rec, pred))
        else:
            err = pred.get("error") if isinstance(pred, dict) else {"code": 500, "message": line.get("error")}
            out.append(rows.refused(rec, err if isinstance(err, dict) else {"code": 500, "message": str(err)}))
    return out


def vector_search_lines(enriched: list[dict[str, Any]], garments: bool = True) -> Iterator[dict[str, Any]]:
    """Vector Search records: the whole image as ID, each garment as ID#N; restricts from the metadata."""
    for row in enriched:
        if row.get("status") != "ok" or row.get("embedding") is None:
            continue
        restricts = [{"namespace": f, "allow": [row[f]]} for f in RESTRICT_FIELDS if row.get(f)]
        yield {"id": row["id"], "embedding": list(row["embedding"]),
               "restricts": restricts + [{"namespace": "kind", "allow": ["image"]}]}
        for n, g in enumerate(row.get("garments") or [] if garments else []):
            if g.get("embedding") is not None:
                own = [{"namespace": f"garment.{f}", "allow": [g[f"metadata_{f}"]]} for f in RESTRICT_FIELDS
                       if g.get(f"metadata_{f}")]
                yield {"id": f"{row['id']}#{n}", "embedding": list(g["embedding"]),
                       "restricts": restricts + [{"namespace": "kind", "allow": ["garment"]},
                                                 {"namespace": "label", "allow": [g["label"]]}, *own]}

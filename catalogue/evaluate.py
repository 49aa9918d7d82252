"""Search quality on the real catalogue: P@10 by articleType for image queries and for text queries.

Image queries: the held-out products of the attribute/embedder split (their served embeddings, from the
enrichment), each searched against the whole index with itself excluded; a hit counts when its catalogue
articleType (styles.csv, not the predicted one) equals the query's. Text queries: "a photo of {articleType}."
for every articleType with at least 10 products; a hit counts when the product has that articleType. The index
also holds the products the embedder was trained on (a catalogue's products are known): the queries' own
images and texts were never seen in training for the image queries; the text prompts were (see the embedder
report).
"""
from __future__ import annotations

import collections
import csv
from pathlib import Path
from typing import Any, Callable

import numpy as np

from catalogue.index import CatalogueIndex

K = 10


def truth(styles: Path) -> dict[str, str]:
    return {r["id"]: r["articleType"] for r in csv.DictReader(styles.open())}


def image_queries(index: CatalogueIndex, rows: list[dict[str, Any]], labels: dict[str, str],
                  held_out: set[str]) -> dict[str, Any]:
    per: dict[str, list[float]] = collections.defaultdict(list)
    for row in rows:
        if row["id"] not in held_out or row.get("status") != "ok" or row["id"] not in labels:
            continue
        hits = index.search(np.asarray(row["embedding"], np.float32), K, "images", exclude=row["id"])
        per[labels[row["id"]]].append(np.mean([labels.get(h["id"]) == labels[row["id"]] for h in hits]))
    every = [p for ps in per.values() for p in ps]
    return {"queries": len(every), "p_at_10": round(float(np.mean(every)), 4),
            "per_article_type": {a: {"queries": len(ps), "p_at_10": round(float(np.mean(ps)), 3)}
                                 for a, ps in sorted(per.items(), key=lambda kv: -len(kv[1]))}}


def text_queries(index: CatalogueIndex, embed_text: Callable[[str], np.ndarray],
                 labels: dict[str, str], indexed: set[str]) -> dict[str, Any]:
    counts = collections.Counter(labels[i] for i in indexed if i in labels)
    per = {}
    for article, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        if n < K:
            continue
        hits = index.search(embed_text(f"a photo of {article}."), K, "images")
        per[article] = round(float(np.mean([labels.get(h["id"]) == article for h in hits])), 3)
    return {"queries": len(per), "p_at_10": round(float(np.mean(list(per.values()))), 4), "per_article_type": per}


def markdown(report: dict[str, Any]) -> str:
    im, tx = report["image"], report["text"]
    lines = ["# Catalogue search quality", "", f"Index: {report['index']}. Embedder: {report['embedder']}. "
             "`python -m catalogue evaluate` (make evaluate-catalogue).", "",
             f"- image -> products, {im['queries']} held-out queries: **P@10 {im['p_at_10']:.3f}** (same articleType)",
             f"- text -> products, {tx['queries']} articleTypes: **P@10 {tx['p_at_10']:.3f}**", "",
             "| articleType | image queries | image P@10 | text P@10 |", "|---|---:|---:|---:|"]
    for article, m in list(im["per_article_type"].items())[:25]:
        lines.append(f"| {article} | {m['queries']} | {m['p_at_10']:.3f} | "
                     f"{tx['per_article_type'].get(article, float('nan')):.3f} |")
    return "\n".join(lines + ["", "(the 25 articleTypes with the most held-out queries)", ""])

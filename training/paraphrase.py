"""Text search in words the catalogue never uses: the paraphrase set (reports/paraphrase_queries.csv).

Each query ("kicks", "timepiece", "tshrt") names the articleTypes a right answer may have. Two figures per
embedder, both over the whole catalogue (every product photo of ../shared/data/fashion_products):
- P@10: the share of the query's ten nearest products (text -> image) whose articleType is one of the query's;
- name@1: whether the catalogue articleType name nearest to the query (text -> text, "a photo of <name>")
  is one of them.
Reported apart for the queries none of whose words any caption uses (`caption_words` empty) and for the
issue's own examples, some of whose words captions do use.
"""
from __future__ import annotations

import csv
import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

QUERIES = Path("reports/paraphrase_queries.csv")


@dataclasses.dataclass(frozen=True)
class Query:
    text: str
    article_types: frozenset[str]
    kind: str  # synonym | slang | phrase | typo
    caption_words: tuple[str, ...]  # its words that some caption uses (empty: none does)


def read_queries(path: Path = QUERIES) -> list[Query]:
    with open(path, newline="") as f:
        return [Query(r["query"], frozenset(r["article_types"].split("|")), r["kind"],
                      tuple(r["caption_words"].split())) for r in csv.DictReader(f)]


def figures(text: np.ndarray, images: np.ndarray, names: np.ndarray, articles: list[str], vocabulary: list[str],
            queries: list[Query], k: int = 10) -> dict[str, Any]:
    """P@k and name@1 per query and their means (text, images, names: L2-normalised rows)."""
    per_query = []
    top = np.argsort(-(text @ images.T), axis=1)[:, :k]
    nearest = np.argmax(text @ names.T, axis=1)
    for q, hits, name in zip(queries, top, nearest):
        per_query.append({"query": q.text, "P@10": round(float(np.mean([articles[i] in q.article_types
                                                                          for i in hits])), 4),
                          "name@1": bool(vocabulary[name] in q.article_types), "nearest_name": vocabulary[name]})

    def mean(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {"queries": len(rows), "P@10": round(float(np.mean([r["P@10"] for r in rows])), 4) if rows else None,
                "name@1": round(float(np.mean([r["name@1"] for r in rows])), 4) if rows else None}

    unseen = [r for r, q in zip(per_query, queries) if not q.caption_words]
    seen = [r for r, q in zip(per_query, queries) if q.caption_words]
    return {"unseen_words": mean(unseen), "issue_examples": mean(seen), "all": mean(per_query),
            "per_query": per_query}


def evaluate(checkpoints: list[Path], csv_path: Path, images: Path, queries: Path = QUERIES) -> dict[str, Any]:
    """The paraphrase figures of each embedder checkpoint (open_clip, our architectures or any other)."""
    from fashion.nets import embedder_model
    from training.catalogue import read_catalogue
    from training.dataset import cache_pixels
    from training.embedder_eval import embed_texts, image_embeddings

    qs = read_queries(queries)
    records, problems = read_catalogue(csv_path, images)
    out: dict[str, Any] = {"queries": str(queries), "products": len(records), "models": {}}
    cached: tuple[Any, list, torch.Tensor] | None = None  # the pixels as the last tower saw them
    for checkpoint in checkpoints:
        model, architecture = embedder_model.from_checkpoint(checkpoint)
        spec = embedder_model.input_spec(model)
        if cached is None or cached[0] != spec:
            cached = (spec, *cache_pixels(records, spec, problems, workers=max(1, os.cpu_count() or 1)))
        _, kept, pixels = cached
        articles = [r.labels.get("articleType") for r in kept]
        vocabulary = sorted({a for a in articles if a})
        tokenizer = embedder_model.tokenizer(architecture)
        text = embed_texts(model, tokenizer, [q.text for q in qs])
        names = embed_texts(model, tokenizer, [f"a photo of {n.lower()}" for n in vocabulary])
        gallery = image_embeddings(model, pixels, spec)
        out["models"][str(checkpoint)] = {"architecture": architecture,
                                          **figures(text, gallery, names, articles, vocabulary, qs)}
    return out


def markdown(result: dict[str, Any]) -> str:
    lines = ["# Text search in words no caption uses", "",
             f"`python -m training evaluate-paraphrases` on `{result['queries']}` over the whole catalogue "
             f"({result['products']} product photos). P@10: the share of a query's ten nearest products whose "
             "articleType is one the query names; name@1: whether the articleType name nearest to the query is.", "",
             "| embedder | architecture | unseen words: queries, P@10, name@1 | the issue's examples: queries, "
             "P@10, name@1 |", "|---|---|---|---|"]
    for path, m in result["models"].items():
        u, s = m["unseen_words"], m["issue_examples"]
        lines.append(f"| `{path}` | {m['architecture']} | {u['queries']}, {u['P@10']:.3f}, {u['name@1']:.3f} | "
                     f"{s['queries']}, {s['P@10']:.3f}, {s['name@1']:.3f} |")
    return "\n".join(lines + [""])

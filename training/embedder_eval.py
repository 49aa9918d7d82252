"""Held-out figures of an embedder: text -> image, category -> product, image -> image, zero-shot attributes.

Every figure is computed for the trained model and for random weights of the same architecture; zero-shot
accuracy sits beside the trained attribute classifier's on exactly the same rows.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fashion.nets.attribute_model import build, input_spec as attribute_spec
from fashion.nets import embedder_model
from fashion.stages.preprocess import normalize
from fashion.stages.zeroshot import label_tables
from training.catalogue import Record
from training.retrieval import category_precision, image_precision, recall_mrr

CATEGORY_HEADS = ("articleType", "baseColour", "usage")
ZERO_SHOT_HEADS = ("gender", "articleType", "baseColour", "season", "usage")
MIN_CATEGORY_ITEMS = 10  # a category query needs at least this many gallery items (P@10 could not reach 1 otherwise)


@torch.no_grad()
def embed_texts(model: torch.nn.Module, tokenizer, texts: list[str], batch: int = 512) -> np.ndarray:
    model.eval()
    if not texts:
        return np.zeros((0, embedder_model.embedding_dim(model)), dtype=np.float32)
    return torch.cat([F.normalize(model.encode_text(tokenizer(texts[i:i + batch])), dim=-1)
                      for i in range(0, len(texts), batch)]).numpy()


@torch.no_grad()
def image_embeddings(model: torch.nn.Module, pixels: torch.Tensor, spec, batch: int = 256) -> np.ndarray:
    model.eval()
    return torch.cat([F.normalize(model.encode_image(normalize(pixels[i:i + batch], spec)), dim=-1)
                      for i in range(0, len(pixels), batch)]).numpy()


def _rounded(d: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in d.items()}


def retrieval(images: np.ndarray, records: list[Record], texts) -> dict[str, Any]:
    """All retrieval figures over one gallery (`texts(list[str])` embeds text queries)."""
    named = [i for i, r in enumerate(records) if r.name]
    out: dict[str, Any] = {"gallery": len(records)}
    out["text_to_image"] = _rounded(recall_mrr(texts([records[i].name for i in named]), images, np.array(named))
                                    | {"queries": len(named)})
    for head in CATEGORY_HEADS:
        labels = [r.labels[head] for r in records]
        kept = [i for i, v in enumerate(labels) if v]
        counts: dict[str, int] = {}
        for i in kept:
            counts[labels[i]] = counts.get(labels[i], 0) + 1
        queries = sorted(c for c, n in counts.items() if n >= MIN_CATEGORY_ITEMS)
        out[f"category_{head}"] = _rounded(category_precision(texts(queries), images[kept],
                                                              [labels[i] for i in kept], queries)) \
            if queries else {"P@1": None, "P@10": None, "queries": 0}
    article = [r.labels["articleType"] for r in records]
    both = [f"{r.labels['articleType']}|{r.labels['baseColour']}" for r in records]
    kept = [i for i, r in enumerate(records) if r.labels["articleType"] and r.labels["baseColour"]]
    out["image_to_image_P@10"] = {
        "articleType": round(image_precision(images[[i for i, a in enumerate(article) if a]],
                                             [a for a in article if a]), 4),
        "articleType+baseColour": round(image_precision(images[kept], [both[i] for i in kept]), 4)}
    return out


def zero_shot(images: np.ndarray, records: list[Record], heads: dict[str, list[str]], texts) -> dict[str, Any]:
    """Accuracy of the fashion.stages.zeroshot prompts per attribute, over rows whose label has a prompt (not Other)."""
    tables = label_tables(texts, {h: heads[h] for h in ZERO_SHOT_HEADS if h in heads})
    out = {}
    for head, table in tables.items():
        labels = table["labels"]
        rows = [i for i, r in enumerate(records) if r.labels[head] in labels]
        pred = (images[rows] @ table["embeddings"].T).argmax(axis=1)
        true = np.array([labels.index(records[i].labels[head]) for i in rows])
        out[head] = {"rows": len(rows), "classes": len(labels),
                     "accuracy": round(float((pred == true).mean()), 4) if rows else None, "_rows": rows}
    return out


@torch.no_grad()
def classifier_accuracy(checkpoint: str, pixels: torch.Tensor, records: list[Record],
                        rows_per_head: dict[str, list[int]]) -> dict[str, Any]:
    """The trained attribute classifier's accuracy on the same rows as the zero-shot figures."""
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model = build(ckpt["architecture"], ckpt["heads"]).eval()
    model.load_state_dict(ckpt["state_dict"])
    spec = attribute_spec(int(ckpt["input_size"]), ckpt["architecture"])
    if tuple(spec.size) != tuple(pixels.shape[-2:]):
        pixels = torch.nn.functional.interpolate(pixels.float(), size=spec.size, mode="bicubic").clamp(0, 255).byte()
    logits = [torch.cat(parts) for parts in zip(*(model(normalize(pixels[i:i + 256], spec))
                                                  for i in range(0, len(pixels), 256)))]
    out = {}
    for k, head in enumerate(model.head_names):
        if head not in rows_per_head:
            continue
        rows = rows_per_head[head]
        pred = logits[k][rows].argmax(dim=1).numpy()
        vocab = ckpt["heads"][head]
        true = np.array([vocab.index(records[i].labels[head]) if records[i].labels[head] in vocab else -1
                         for i in rows])
        out[head] = round(float((pred == true).mean()), 4) if rows else None
    return out


def evaluate(model: torch.nn.Module, tokenizer, pixels: torch.Tensor, records: list[Record], spec,
             heads: dict[str, list[str]]) -> dict[str, Any]:
    images = image_embeddings(model, pixels, spec)

    def texts(q: list[str]) -> np.ndarray:
        return embed_texts(model, tokenizer, q)

    return retrieval(images, records, texts) | {"zero_shot": zero_shot(images, records, heads, texts)}


def strip_rows(figures: dict[str, Any]) -> dict[str, Any]:
    """Drop the row lists kept for the classifier comparison (not part of the report)."""
    return {**figures, "zero_shot": {h: {k: v for k, v in m.items() if k != "_rows"}
                                     for h, m in figures["zero_shot"].items()}}

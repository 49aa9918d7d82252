"""CLIP zero-shot: catalogue metadata without trained attribute heads, and scores for a user's own labels.

Metadata: each vocabulary label is described by a few prompts (TEMPLATES); their text embeddings, averaged
and L2-normalised, are computed at export time and stored in the embedder archive (embedder_zeroshot.pt).
At request time an image's embedding is compared with them: scores = softmax(logit_scale * cosine) per
attribute. 'Other' (merged rare classes) has no description and is never answered by zero-shot.

User labels ({"labels": ["floral", "striped"]}): the same comparison against "a photo of {label}." for the
whole image and every garment crop; the scores are a softmax over the labels given, so they compete.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from fashion.garments.metadata import derive, singular

SOURCE = "zero-shot"
USER_TEMPLATE = "a photo of {}."
TEMPLATES: dict[str, tuple[str, ...]] = {
    "gender": ("a product photo of fashion for {}.", "a photo of {} wearing clothes."),
    "articleType": ("a product photo of a {}.", "a photo of a {}, a fashion item."),
    "baseColour": ("a product photo of a {} item.", "a photo of something {} in colour."),
    "season": ("a photo of {} clothing.", "a fashion item for {}."),
    "usage": ("a photo of {} wear.", "a fashion item for {} use."),
}
_WORDS = {"Men": "men", "Women": "women", "Boys": "boys", "Girls": "girls", "Unisex": "everyone (unisex)"}


def prompts(head: str, label: str) -> list[str]:
    word = _WORDS.get(label, label) if head == "gender" else label
    if head == "articleType":
        word = singular(label)
    word = word.lower()
    return [t.format(word) for t in TEMPLATES.get(head, ("a photo of {}.",))]


def label_tables(embed_texts: Callable[[list[str]], np.ndarray],
                 heads: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """head -> {"labels": [...], "embeddings": (n, d) float32}, prompt embeddings averaged per label."""
    tables = {}
    for head, vocab in heads.items():
        labels = [v for v in vocab if v != "Other"]
        if not labels:
            continue
        vectors = []
        for label in labels:
            v = embed_texts(prompts(head, label)).mean(axis=0)
            vectors.append(v / max(float(np.linalg.norm(v)), 1e-12))
        tables[head] = {"labels": labels, "embeddings": np.stack(vectors).astype(np.float32)}
    return tables


def save_tables(tables: dict[str, dict[str, Any]], path: Path) -> None:
    torch.save({h: {"labels": t["labels"], "embeddings": torch.from_numpy(t["embeddings"])}
                for h, t in tables.items()}, path)


def scores(vectors: np.ndarray, text: np.ndarray, logit_scale: float) -> np.ndarray:
    """(n, d) image vectors x (m, d) text vectors -> (n, m) softmax scores over the m texts."""
    logits = logit_scale * (vectors @ text.T)
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def ranked(row: np.ndarray, labels: list[str]) -> list[dict[str, Any]]:
    order = np.argsort(-row, kind="stable")
    return [{"label": labels[i], "score": round(float(row[i]), 4)} for i in order]


class ZeroShot:
    """Metadata from an image embedding with the export-time label tables."""

    def __init__(self, tables: dict[str, dict[str, Any]], mapping: dict[str, dict[str, str]],
                 logit_scale: float) -> None:
        self.tables, self.mapping, self.logit_scale = tables, mapping, logit_scale

    @classmethod
    def load(cls, path: Path, mapping: dict[str, dict[str, str]], logit_scale: float) -> "ZeroShot":
        raw = torch.load(path, map_location="cpu", weights_only=True)
        tables = {h: {"labels": list(t["labels"]), "embeddings": t["embeddings"].float().numpy()}
                  for h, t in raw.items()}
        return cls(tables, mapping, logit_scale)

    def metadata(self, embeddings: np.ndarray) -> list[dict[str, Any]]:
        """One metadata dict per image embedding, marked "source": "zero-shot"."""
        per_head = {h: scores(embeddings, t["embeddings"], self.logit_scale) for h, t in self.tables.items()}
        out = []
        for i in range(len(embeddings)):
            fields = {}
            for head, s in per_head.items():
                j = int(s[i].argmax())
                fields[head] = {"label": self.tables[head]["labels"][j], "score": round(float(s[i, j]), 4)}
            out.append({**derive(fields, self.mapping), "source": SOURCE})
        return out

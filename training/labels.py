"""Label vocabularies (rare classes merged into 'Other'), label encoding and the articleType -> category map."""
from __future__ import annotations

import collections
from typing import Iterable

import torch

from training.catalogue import HEADS, Record

OTHER = "Other"
IGNORE = -1  # a missing label: masked out of that head's loss and metrics


def vocabularies(records: Iterable[Record], min_count: int) -> dict[str, list[str]]:
    """Per head: classes with at least `min_count` labelled rows, sorted, then 'Other' if anything was merged."""
    counts = {h: collections.Counter() for h in HEADS}
    for r in records:
        for h in HEADS:
            if r.labels[h] is not None:
                counts[h][r.labels[h]] += 1
    return {h: vocabulary(counts[h], min_count) for h in HEADS}


def vocabulary(counts: collections.Counter, min_count: int) -> list[str]:
    """One head's classes: those with at least `min_count` rows, sorted, then 'Other' if anything was merged."""
    kept = sorted(c for c, n in counts.items() if n >= min_count and c != OTHER)
    return kept + [OTHER] if any(n < min_count for n in counts.values()) or OTHER in counts else kept


def category_mapping(records: Iterable[Record], article_types: list[str]) -> dict[str, dict[str, str]]:
    """articleType -> its most frequent (masterCategory, subCategory) in the catalogue."""
    seen: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in records:
        article = r.labels["articleType"]
        if article is not None and r.master and r.sub:
            seen[article][(r.master, r.sub)] += 1
    return {a: {"masterCategory": c.most_common(1)[0][0][0], "subCategory": c.most_common(1)[0][0][1]}
            for a, c in sorted(seen.items()) if a in article_types}


def encode(records: list[Record], heads: dict[str, list[str]]) -> torch.Tensor:
    """(N, heads) class indices; rare classes -> 'Other', missing labels -> IGNORE."""
    index = {h: {c: i for i, c in enumerate(v)} for h, v in heads.items()}
    out = torch.full((len(records), len(heads)), IGNORE, dtype=torch.long)
    for n, r in enumerate(records):
        for k, h in enumerate(heads):
            label = r.label(h)  # a head the catalogue has no label for (scene): missing
            if label is not None:
                out[n, k] = index[h].get(label, index[h].get(OTHER, IGNORE))
    return out


def balanced_weights(targets: torch.Tensor, classes: int) -> torch.Tensor:
    """Inverse frequency, normalised to mean 1 over the classes seen: each class weighs the same in total
    (unseen classes weigh 0)."""
    counts = torch.bincount(targets[targets != IGNORE], minlength=classes).float()
    weights = torch.where(counts > 0, 1.0 / counts.clamp(min=1), torch.zeros_like(counts))
    return weights * (counts > 0).sum() / weights.sum().clamp(min=1e-12)


def class_weights(targets: torch.Tensor, classes: int) -> torch.Tensor:
    """Inverse square-root frequency, normalised to mean 1 over the classes seen (unseen classes weigh 0)."""
    counts = torch.bincount(targets[targets != IGNORE], minlength=classes).float()
    weights = torch.where(counts > 0, counts.clamp(min=1).rsqrt(), torch.zeros_like(counts))
    return weights * (counts > 0).sum() / weights.sum().clamp(min=1e-12)

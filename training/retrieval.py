"""Retrieval figures over L2-normalised embeddings (numpy): recall, MRR, precision at k."""
from __future__ import annotations

import numpy as np


def ranks_of_targets(queries: np.ndarray, gallery: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based rank of gallery[targets[i]] among all gallery items for query i (ties count against it)."""
    sims = queries @ gallery.T
    own = sims[np.arange(len(queries)), targets]
    return (sims > own[:, None]).sum(axis=1)


def recall_mrr(queries: np.ndarray, gallery: np.ndarray, targets: np.ndarray,
               ks: tuple[int, ...] = (1, 10)) -> dict[str, float]:
    """R@k and MRR where each query has exactly one right answer, gallery[targets[i]]."""
    ranks = ranks_of_targets(queries, gallery, targets)
    out = {f"R@{k}": float((ranks < k).mean()) for k in ks}
    out["MRR"] = float((1.0 / (ranks + 1)).mean())
    return out


def top_k(queries: np.ndarray, gallery: np.ndarray, k: int, exclude_self: bool = False) -> np.ndarray:
    """(n_queries, k) gallery indices, best first; exclude_self drops index i for query i (image -> image)."""
    sims = queries @ gallery.T
    if exclude_self:
        np.fill_diagonal(sims, -np.inf)
    k = min(k, sims.shape[1] - (1 if exclude_self else 0))
    part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def precision_at(hits: np.ndarray, ks: tuple[int, ...] = (1, 10)) -> dict[str, float]:
    """hits: (n_queries, >= max k) booleans, best first -> mean P@k over the queries."""
    return {f"P@{k}": float(hits[:, :k].mean()) for k in ks}


def category_precision(text_vectors: np.ndarray, gallery: np.ndarray, gallery_labels: list,
                       query_labels: list, ks: tuple[int, ...] = (1, 10)) -> dict[str, float]:
    """One text query per category; a hit is a gallery item of that category. Averaged over the categories."""
    idx = top_k(text_vectors, gallery, max(ks))
    labels = np.asarray(gallery_labels, dtype=object)
    hits = labels[idx] == np.asarray(query_labels, dtype=object)[:, None]
    return precision_at(hits, ks) | {"queries": len(query_labels)}


def image_precision(gallery: np.ndarray, keys: list, k: int = 10) -> float:
    """Image -> image P@k: each item queries the others; a hit shares its key (articleType, or articleType+colour)."""
    idx = top_k(gallery, gallery, k, exclude_self=True)
    labels = np.asarray(keys, dtype=object)
    return float((labels[idx] == labels[:, None]).mean())

"""Compare two responses of the contract with DESIGN.md's bars (batching changes float rounding)."""
from __future__ import annotations

import numpy as np

from fashion.garments.masks import decode_rle

HEADS = ("gender", "articleType", "baseColour", "season", "usage")


def assert_same_response(a: dict, b: dict, iou: float = 0.99, cosine: float = 0.999) -> None:
    assert a["image"] == b["image"] and a["models"] == b["models"]
    if "embedding" in a or "embedding" in b:
        assert np.dot(a["embedding"], b["embedding"]) >= cosine
    if "garments" in a or "garments" in b:
        assert [g["label"] for g in a["garments"]] == [g["label"] for g in b["garments"]]
        for g, h in zip(a["garments"], b["garments"]):
            np.testing.assert_allclose(g["box"], h["box"], atol=1.0)
            if isinstance(g.get("mask"), dict) and "counts" in g["mask"]:
                m, n = decode_rle(g["mask"]), decode_rle(h["mask"])
                assert (m & n).sum() / max((m | n).sum(), 1) >= iou
            if "embedding" in g:
                assert np.dot(g["embedding"], h["embedding"]) >= cosine
            assert (g.get("colour") or {}).get("name") == (h.get("colour") or {}).get("name")
            assert [t["label"] for t in g.get("tags", [])][:1] == [t["label"] for t in h.get("tags", [])][:1]
    if "metadata" in a or "metadata" in b:
        assert a["metadata"]["source"] == b["metadata"]["source"]
        for head in HEADS:
            assert a["metadata"][head]["label"] == b["metadata"][head]["label"], head
    assert [t["label"] for t in a.get("tags", [])][:1] == [t["label"] for t in b.get("tags", [])][:1]

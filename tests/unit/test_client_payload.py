"""The client keeps requests under Vertex's shared-endpoint limit, shrinking only what it must."""
from __future__ import annotations

import base64
import io
import json

import numpy as np
from PIL import Image

from client.payload import vertex_body


def _photo(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(
        buf, format="JPEG", quality=95)
    return buf.getvalue()


def test_small_images_pass_unchanged():
    small = _photo(200, 300)
    body = json.loads(vertex_body([small], {"embedding_only": True}))
    assert base64.b64decode(body["instances"][0]["b64"]) == small and body["parameters"] == {"embedding_only": True}


def test_large_images_shrink_under_the_limit():
    big = [_photo(3000, 4000), _photo(2000, 2000)]
    assert sum(len(b) for b in big) > 1_500_000
    body = vertex_body(big, max_bytes=1_500_000)
    assert len(body) <= 1_500_000
    sides = [Image.open(io.BytesIO(base64.b64decode(i["b64"]))).size for i in json.loads(body)["instances"]]
    assert all(max(s) >= 256 for s in sides) and abs(sides[0][0] / sides[0][1] - 0.75) < 0.01

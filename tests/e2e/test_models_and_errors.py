"""Each model alone, and bad input: a clear 4xx JSON error, then the next good request answered."""
from __future__ import annotations

import numpy as np
import pytest


def test_each_model_answers_alone(server, street_photos):
    photo = street_photos[0].read_bytes()
    seg = server.post("/predictions/segmenter", content=photo).json()
    assert set(seg) == {"image", "garments", "models"}
    emb = server.post("/predictions/embedder", content=photo).json()
    assert set(emb) == {"image", "embedding", "models"}
    assert abs(np.linalg.norm(emb["embedding"]) - 1) < 1e-4
    attr = server.post("/predictions/attributes", content=photo).json()
    assert set(attr) == {"image", "metadata", "models"}
    text = server.post("/predictions/embedder", json={"text": ["red dress", "blue jeans"]}).json()
    assert len(text["embeddings"]) == 2 and len(text["embeddings"][0]) == len(emb["embedding"])


BAD = [
    (b"", 400), (b"hello, not an image", 415), (b"\xff\xd8\xff\xe0 truncated jpeg", 400),
    (b'{"b64": "%%%not base64"}', 400), (b'{"broken json', 400), (b'{"b64": "aGVsbG8=", "bogus": 1}', 400),
    (b'{"url": "http://169.254.169.254/latest/meta-data"}', 400),
]


@pytest.mark.parametrize("body,code", BAD)
def test_bad_input_is_a_clear_4xx(server, street_photos, body, code):
    ct = "application/json" if body.startswith(b"{") else "application/octet-stream"
    for endpoint in ("/predictions/fashion", "/predictions/segmenter", "/wfpredict/fashion"):
        r = server.post(endpoint, content=body, headers={"Content-Type": ct})
        error = r.json()["error"]
        assert error["code"] == code and error["message"], (endpoint, r.text)
        assert r.status_code == code  # /wfpredict too: the front door answers the workflow's refusal with its code
    good = server.post("/wfpredict/fashion", content=street_photos[1].read_bytes())
    assert good.status_code == 200 and "garments" in good.json()

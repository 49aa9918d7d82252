"""The response contract over HTTP: input shapes, both pipeline endpoints, parity with in-process."""
from __future__ import annotations

import base64

import jsonschema
import numpy as np
import pytest

from fashion.garments.masks import decode_rle
from fashion.pipeline import Pipeline
from tests.compare import assert_same_response

ENDPOINTS = ["/wfpredict/fashion", "/predictions/fashion"]


@pytest.fixture(scope="module")
def photo(street_photos) -> bytes:
    return street_photos[2].read_bytes()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_raw_bytes_answer_the_contract(server, endpoint, photo, response_schema):
    for send in (server.http.post, server.http.put):  # curl --data-binary and curl -T
        r = send(f"{server.inference}{endpoint}", content=photo, headers={"Content-Type": "image/jpeg"})
        assert r.status_code == 200, r.text[:300]
        body = r.json()
        jsonschema.validate(body, response_schema)
        assert {m["name"] for m in body["models"]} == {"segmenter", "embedder", "attributes"}
        seg = next(m for m in body["models"] if m["name"] == "segmenter")
        if not seg["random_weights"]:  # the trained segmenter finds garments on a street photo
            assert body["garments"], "no garment found on a street photo"
            for g in body["garments"]:
                assert decode_rle(g["mask"]).sum() == g["area"]
                assert len(g["embedding"]) == len(body["embedding"])


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_multipart_and_base64_and_vertex(server, endpoint, photo, street_photos, response_schema):
    other = street_photos[5].read_bytes()
    r = server.post(endpoint, files={"a": ("a.jpg", photo, "image/jpeg"), "b": ("b.txt", b"not an image", "text/plain"),
                                     "c": ("c.jpg", other, "image/jpeg")})
    assert r.status_code == 200
    batch = r.json()
    assert len(batch) == 3
    jsonschema.validate(batch[0], response_schema)
    jsonschema.validate(batch[2], response_schema)
    assert batch[1]["error"]["code"] == 415
    single = server.post(endpoint, json={"b64": base64.b64encode(photo).decode()}).json()
    assert_same_response(single, batch[0])
    vertex = server.post(endpoint, json={"instances": [{"b64": base64.b64encode(other).decode()}],
                                         "parameters": {"mask_format": "none"}}).json()
    assert list(vertex) == ["predictions"] and len(vertex["predictions"]) == 1
    assert all("mask" not in g for g in vertex["predictions"][0]["garments"])


def test_workflow_equals_ensemble(server, street_photos):
    for path in street_photos[:4]:
        a = server.post("/wfpredict/fashion", content=path.read_bytes()).json()
        b = server.post("/predictions/fashion", content=path.read_bytes()).json()
        assert_same_response(a, b)


def test_served_equals_in_process(server, export_dir, street_photos, product_photos):
    """Bars: mask IoU >= 0.99, embedding cosine >= 0.999, same top-1 attributes."""
    pipeline = Pipeline.load(export_dir)
    for path in [*street_photos[:3], *product_photos[:3]]:
        served = server.post("/wfpredict/fashion", content=path.read_bytes()).json()
        (local, status), = pipeline([{"body": path.read_bytes()}])
        assert status == 200
        assert_same_response(served, local)


def test_options(server, photo):
    only = server.post("/wfpredict/fashion", content=photo).json()
    emb = server.post("/predictions/fashion", json={"b64": base64.b64encode(photo).decode(),
                                                    "embedding_only": True}).json()
    assert set(emb) == {"image", "embedding", "models"}
    assert np.dot(emb["embedding"], only["embedding"]) >= 0.999
    few = server.post("/wfpredict/fashion", json={"b64": base64.b64encode(photo).decode(), "max_garments": 1,
                                                  "mask_format": "polygon"}).json()
    assert len(few["garments"]) <= 1
    for g in few["garments"]:
        assert g["mask"]["polygons"] and len(g["mask"]["polygons"][0]) >= 6


def test_metadata_source_and_user_labels(server, export_dir, photo, response_schema):
    """Untrained heads: zero-shot metadata; trained ones: the classifier. User labels score the image and
    every garment through the real CLIP text tower, on both endpoints alike."""
    import json

    trained = json.loads((export_dir / "attributes.json").read_text())["settings"]["trained_heads"]
    labels = ["floral", "striped", "plain", "denim"]
    bodies = [server.post(e, json={"b64": base64.b64encode(photo).decode(), "labels": labels}).json()
              for e in ENDPOINTS]
    for body in bodies:
        jsonschema.validate(body, response_schema)
        assert body["metadata"]["source"] == ("classifier" if trained else "zero-shot")
        assert sorted(t["label"] for t in body["tags"]) == sorted(labels)
        assert sum(t["score"] for t in body["tags"]) == pytest.approx(1.0, abs=1e-3)
        for g in body["garments"]:
            assert len(g["tags"]) == len(labels) and g["tags"][0]["score"] >= g["tags"][-1]["score"]
    assert_same_response(*bodies)
    bad = server.post(ENDPOINTS[1], json={"b64": base64.b64encode(photo).decode(), "labels": [""] * 3})
    assert bad.status_code == 400 and "labels" in bad.json()["error"]["message"]

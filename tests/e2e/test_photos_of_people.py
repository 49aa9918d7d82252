"""Photos of people over HTTP (issue 22): each garment's own metadata, the scene, photo metadata from the person
and the main garment, on both pipeline endpoints; the embedding the pipeline projects from the attribute model's
trunk features is the embedder endpoint's own (one trunk, fashion.nets.trunk)."""
from __future__ import annotations

import base64

import jsonschema
import numpy as np
import pytest

from tests.conftest import PRODUCTS

ENDPOINTS = ["/wfpredict/fashion", "/predictions/fashion"]


def _keys(value) -> list[str]:
    """Every key of a JSON value, however deep."""
    if isinstance(value, dict):
        return [*value, *(k for v in value.values() for k in _keys(v))]
    return [k for v in value for k in _keys(v)] if isinstance(value, list) else []


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_street_photo_gets_worn_metadata_and_each_garment_its_own(server, endpoint, street_photos,
                                                                     response_schema):
    worn = 0
    for path in street_photos[:4]:
        body = server.post(endpoint, content=path.read_bytes()).json()
        jsonschema.validate(body, response_schema)
        assert not [k for k in _keys(body) if "face" in k.lower()], "something of the face left the face step"
        meta = body["metadata"]
        assert meta["scene"]["label"] in ("product", "worn")
        if meta["scene"]["label"] != "worn":
            continue
        worn += 1
        assert meta["gender"]["label"] in ("Men", "Women", None)
        for garment in body["garments"]:
            assert set(garment["metadata"]) >= {"gender", "articleType", "productDisplayName", "source"}
            for field in ("gender", "articleType"):
                value = garment["metadata"][field]
                assert value["label"] is not None or value["reason"], value
        main = meta["garment"]
        if main is not None:  # the photo's articleType is its main garment's (or null), never the photo head's
            theirs = body["garments"][main]["metadata"]
            assert meta["articleType"] == theirs["articleType"] or "main garment" in meta["articleType"]["reason"]
            assert meta["baseColour"] == theirs["baseColour"]
        else:
            assert meta["articleType"]["label"] is None and meta["articleType"]["reason"]
    assert worn >= 3, "street photos of people were not told from product shots"


def test_a_product_shot_keeps_its_product_answer(server, product_photos):
    body = server.post("/predictions/fashion", content=product_photos[0].read_bytes()).json()
    assert body["metadata"]["scene"]["label"] == "product"
    assert "garment" not in body["metadata"] and body["metadata"]["articleType"]["label"]


def test_the_projected_embedding_is_the_embedder_endpoints(server, street_photos):
    """The ensemble projects the attribute model's trunk features; /predictions/embedder runs its own tower."""
    for path in [street_photos[0], sorted(PRODUCTS.glob("*.jpg"))[3]]:
        photo = path.read_bytes()
        piped = np.array(server.post("/predictions/fashion", content=photo).json()["embedding"])
        alone = np.array(server.post("/predictions/embedder", content=photo).json()["embedding"])
        assert float(piped @ alone) >= 0.995, path.name


def test_metadata_alone_still_reads_the_garments(server, street_photos):
    body = server.post("/predictions/fashion", json={"b64": base64.b64encode(street_photos[1].read_bytes()).decode(),
                                                     "include": ["metadata"]}).json()
    assert "garments" not in body and "embedding" not in body
    if body["metadata"]["scene"]["label"] == "worn":
        assert "not segmented" not in str(body["metadata"]["articleType"].get("reason", ""))

"""`"groups": "coarse"` on street photos, through both pipeline endpoints: one garment per body group whose mask
is the union of the fine garments of that group (the grouping table stamped on the segmenter archive)."""
from __future__ import annotations

import base64

import jsonschema
import numpy as np
import pytest

from fashion.garments.garment_groups import load
from fashion.garments.masks import decode_rle

ENDPOINTS = ["/wfpredict/fashion", "/predictions/fashion"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_coarse_groups_merge_the_fine_masks(server, endpoint, street_photos, response_schema):
    table = load()
    merged = 0
    for path in street_photos[:6]:
        b64 = base64.b64encode(path.read_bytes()).decode()
        fine = server.post(endpoint, json={"b64": b64}).json()
        r = server.post(endpoint, json={"b64": b64, "groups": "coarse"})
        assert r.status_code == 200, r.text[:300]
        coarse = r.json()
        jsonschema.validate(coarse, response_schema)
        labels = [g["label"] for g in coarse["garments"]]
        assert len(labels) == len(set(labels)) and set(labels) <= set(table.coarse), labels
        for g in coarse["garments"]:
            members = [decode_rle(f["mask"]) for f in fine["garments"] if table.coarse_of(f["label"]) == g["label"]]
            want, got = np.logical_or.reduce(members), decode_rle(g["mask"])
            assert (want & got).sum() / max((want | got).sum(), 1) >= 0.99, (path.name, g["label"])
            assert g["area"] == int(got.sum()) and len(g["embedding"]) == len(coarse["embedding"])
            merged += len(members) > 1
    assert merged, "no photo had two garments of one body group to merge"


def test_unknown_grouping_is_refused(server, street_photos):
    b64 = base64.b64encode(street_photos[0].read_bytes()).decode()
    r = server.post("/predictions/fashion", json={"b64": b64, "groups": "medium"})
    assert r.status_code == 400 and "groups" in r.json()["error"]["message"]

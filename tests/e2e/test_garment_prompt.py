"""Garment by words on a street photo through both endpoints: every garment scored, at most one selected (the
best, when it clears the threshold), the same on the workflow and the ensemble, valid against the contract."""
from __future__ import annotations

import base64

import jsonschema

from tests.compare import assert_same_response
from tests.conftest import STREET

ENDPOINTS = ("/wfpredict/fashion", "/predictions/fashion")


def test_prompt_selects_at_most_one_garment_on_both_endpoints(server, response_schema) -> None:
    photo = base64.b64encode((STREET / "0005.jpg").read_bytes()).decode()
    for prompt in ("shoes", "sunglasses"):
        bodies = [server.post(e, json={"b64": photo, "prompt": prompt}).json() for e in ENDPOINTS]
        for body in bodies:
            jsonschema.validate(body, response_schema)
            garments, chosen = body["garments"], body["prompt"]["selected"]
            assert garments and body["prompt"]["text"] == prompt
            scores = [g["prompt_score"] for g in garments]
            assert [g["selected"] for g in garments] == [n == chosen for n in range(len(garments))]
            best = max(range(len(scores)), key=scores.__getitem__)
            assert chosen == (best if scores[best] >= body["prompt"]["threshold"] else None)
        assert_same_response(*bodies)
    with_shoes = 0
    for name in ("0004.jpg", "0007.jpg", "0010.jpg"):  # where footwear is found, "shoes" selects it
        other = base64.b64encode((STREET / name).read_bytes()).decode()
        body = server.post(ENDPOINTS[1], json={"b64": other, "prompt": "shoes"}).json()
        if any(g["label"] == "footwear" for g in body["garments"]):
            with_shoes += 1
            assert body["prompt"]["selected"] is not None, name
            assert body["garments"][body["prompt"]["selected"]]["label"] == "footwear", name
    assert with_shoes >= 1
    bad = server.post(ENDPOINTS[0], json={"b64": photo, "prompt": "x" * 200})
    assert bad.status_code == 400 and "prompt" in bad.json()["error"]["message"]

"""A fresh clone serves the attribute model this repository ships (weights/attributes.pt): classifier metadata,
not CLIP zero-shot, and the response says the attribute weights are not random."""
from __future__ import annotations

from tests.conftest import ROOT


def test_fresh_clone_serves_the_trained_attribute_model(server, street_photos):
    assert (ROOT / "weights" / "attributes.pt").is_file()
    for endpoint in ("/wfpredict/fashion", "/predictions/fashion", "/predictions/attributes"):
        body = server.post(endpoint, content=street_photos[6].read_bytes()).json()
        assert body["metadata"]["source"] == "classifier", (endpoint, body["metadata"])
        (attributes,) = [m for m in body["models"] if m["name"] == "attributes"]
        assert attributes["random_weights"] is False and attributes["weights"].startswith("local:"), attributes

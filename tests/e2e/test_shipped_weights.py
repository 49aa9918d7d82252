"""A fresh clone serves the models this repository ships: the attribute model (weights/attributes.pt: classifier
metadata, not zero-shot) and the embedder (weights/embedder.pt), and every response says neither is random."""
from __future__ import annotations

import csv

import numpy as np

from fashion.nets.embedder_model import ARCHITECTURE
from fashion.nets.pretrained import MINILM, PACKAGED, PACKAGED_TEXT
from tests.conftest import PRODUCTS, ROOT

# held-out product photos (the test split of reports/attributes_split.csv) and the label queries they answer
QUERIES = ("Tshirts", "Watches", "Casual Shoes", "Handbags", "Jeans")


def test_fresh_clone_serves_the_trained_attribute_model(server, street_photos):
    assert (ROOT / "weights" / "attributes.pt").is_file()
    for endpoint in ("/wfpredict/fashion", "/predictions/fashion", "/predictions/attributes"):
        body = server.post(endpoint, content=street_photos[6].read_bytes()).json()
        assert body["metadata"]["source"] == "classifier", (endpoint, body["metadata"])
        (attributes,) = [m for m in body["models"] if m["name"] == "attributes"]
        assert attributes["random_weights"] is False and attributes["weights"].startswith("local:"), attributes
        assert attributes["pretrained"] == [PACKAGED["tf_efficientnet_lite0"].describe()], attributes


def test_fresh_clone_serves_the_trained_embedder(server, street_photos):
    assert (ROOT / "weights" / "embedder.pt").is_file()
    for endpoint in ("/wfpredict/fashion", "/predictions/fashion", "/predictions/embedder"):
        body = server.post(endpoint, content=street_photos[6].read_bytes()).json()
        (embedder,) = [m for m in body["models"] if m["name"] == "embedder"]
        assert embedder == {"name": "embedder", "architecture": ARCHITECTURE, "weights": "local:embedder.pt",
                            "random_weights": False,
                            "pretrained": [PACKAGED["tf_efficientnet_lite0"].describe(),
                                           PACKAGED_TEXT[MINILM].describe()]}, embedder


def _held_out_examples() -> list[tuple[str, str]]:
    split = {r["id"]: r["split"] for r in csv.DictReader(open(ROOT / "reports" / "attributes_split.csv"))}
    found: dict[str, str] = {}
    with open(PRODUCTS.parent / "styles.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if split.get(row["id"]) == "test" and row["articleType"] in QUERIES:
                found.setdefault(row["articleType"], row["id"])
    return sorted(found.items())


def test_served_embeddings_find_the_category_of_held_out_products(server):
    """Text and image embeddings from the served archive share a space: each held-out product is nearest to
    its own category's name among the five (a random embedder gets about one in five)."""
    texts = np.array(server.post("/predictions/embedder", json={"text": list(QUERIES)}).json()["embeddings"])
    examples = _held_out_examples()
    right = 0
    for article, pid in examples:
        image = np.array(server.post("/predictions/embedder",
                                     content=(PRODUCTS / f"{pid}.jpg").read_bytes()).json()["embedding"])
        right += QUERIES[int(np.argmax(texts @ image))] == article
    assert len(examples) == len(QUERIES) and right >= 4, (right, examples)

"""`python -m training product-heads` on real products and the shipped model: the product-only heads refitted,
a subCategory head added, everything else untouched."""
from __future__ import annotations

import json

import torch

from fashion.nets.attribute_model import build
from tests.conftest import ROOT
from training.__main__ import main


def test_product_heads_refit_on_the_frozen_trunk_and_add_a_subcategory_head(catalogue, tmp_path):
    csv, images = catalogue
    init = ROOT / "weights" / "attributes.pt"
    assert main(["product-heads", "--csv", str(csv), "--images", str(images), "--init", str(init),
                 "--out", str(tmp_path / "out"), "--report-dir", str(tmp_path)]) == 0
    before = torch.load(init, map_location="cpu", weights_only=True)
    after = torch.load(tmp_path / "out" / "attributes.pt", map_location="cpu", weights_only=True)
    assert list(after["heads"])[-1] == "subCategory" and list(after["heads"])[:-1] == \
        [h for h in before["heads"] if h != "subCategory"]
    build(after["architecture"], after["heads"]).load_state_dict(after["state_dict"])  # strict
    unchanged = [k for k in before["state_dict"] if k.startswith("backbone.") or k.startswith(("heads.0.", "heads.1."))]
    assert unchanged and all(torch.equal(before["state_dict"][k], after["state_dict"][k]) for k in unchanged)
    for sub in after["heads"]["subCategory"]:
        assert sub == "Other" or after["mapping"][sub]["masterCategory"]
    report = json.loads((tmp_path / "product_heads.json").read_text())
    assert set(report["chosen"]) == {"baseColour", "season", "usage", "subCategory"}
    assert {"derived_masterCategory", "usage"} <= set(report["test"]["after"])

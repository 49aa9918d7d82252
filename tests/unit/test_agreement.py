"""Answers that agree with each other: the catalogue's gender x articleType prior (fashion.worn.article_prior), a
garment's colour within its measured colour's family (fashion.worn.worn_metadata), and a product shot's garments as its
product (fashion.worn.product_shot)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fashion.worn import article_prior
from fashion.worn.product_shot import is_set, product_groups, the_product
from fashion.results import Garment
from fashion.worn.worn_metadata import Calibration, garment_metadata

HEADS = {"gender": ["Men", "Women"], "articleType": ["Casual Shoes", "Heels", "Watches"],
         "baseColour": ["Black", "Navy Blue", "Blue", "Red"], "season": ["Summer"], "usage": ["Casual"]}


def probs(gender, article, colour=(0.1, 0.2, 0.3, 0.4)):
    return {"gender": np.array(gender), "articleType": np.array(article), "baseColour": np.array(colour),
            "season": np.array([1.0]), "usage": np.array([1.0])}


def test_the_prior_counts_the_catalogue_less_the_held_out_rows(tmp_path):
    styles = [{"id": "1", "gender": "Women", "articleType": "Heels"}, {"id": "2", "gender": "Men", "articleType":
              "Heels"}, {"id": "3", "gender": "Men", "articleType": "Casual Shoes"}]
    counts = article_prior.table(styles, held_out={"2"})
    assert counts == {"Casual Shoes": {"Men": 1}, "Heels": {"Women": 1}}
    path = tmp_path / "prior.json"
    path.write_text(json.dumps({"counts": {"Heels": {"Women": 999, "Men": 1}}}))
    assert not article_prior.allowed("Men", "Heels", path)  # 0.1 % of heels
    assert article_prior.allowed("Women", "Heels", path)
    assert article_prior.allowed("Men", "Capes", path) and article_prior.allowed(None, "Heels", path)


def test_the_shipped_prior_never_calls_a_mans_garment_heels_a_dress_a_skirt_or_a_handbag():
    for article in ("Heels", "Dresses", "Skirts", "Handbags"):
        assert not article_prior.allowed("Men", article) and article_prior.allowed("Women", article)
    assert article_prior.allowed("Men", "Casual Shoes") and article_prior.allowed("Women", "Casual Shoes")


def test_a_men_wearers_shoe_is_the_likeliest_article_a_man_wears():
    photo = probs([0.9, 0.1], [0.4, 0.5, 0.1])
    crop = probs([0.9, 0.1], [0.3, 0.6, 0.1])  # the crop alone says Heels
    cal = Calibration(garment_gender_from="photo")
    men = garment_metadata(crop, photo, HEADS, {}, "classifier", cal, family=(0, 1))
    assert men["gender"]["label"] == "Men" and men["articleType"] == {"label": "Casual Shoes", "score": 0.3}
    women = garment_metadata(crop, probs([0.1, 0.9], [0.4, 0.5, 0.1]), HEADS, {}, "classifier", cal, family=(0, 1))
    assert women["articleType"]["label"] == "Heels"
    only_heels = garment_metadata(crop, photo, HEADS, {}, "classifier", cal, family=(1,))  # its kind: heels only
    assert only_heels["articleType"]["label"] == "Heels" and only_heels["gender"]["label"] is None
    assert "no articleType of this garment's kind is worn by Men" in only_heels["gender"]["reason"]
    assert only_heels["productDisplayName"] == "Red Heels"


def test_a_garments_colour_is_the_heads_likeliest_shade_of_the_measured_family():
    photo = probs([0.1, 0.9], [0.4, 0.5, 0.1])
    crop = probs([0.1, 0.9], [0.1, 0.8, 0.1], colour=(0.5, 0.2, 0.1, 0.2))  # the head alone says Black
    blue = garment_metadata(crop, photo, HEADS, {}, "classifier", Calibration(), measured="Blue")
    assert blue["baseColour"] == {"label": "Navy Blue", "score": 0.2}
    assert blue["productDisplayName"] == "Women Navy Blue Heels"
    unmeasured = garment_metadata(crop, photo, HEADS, {}, "classifier", Calibration())
    assert unmeasured["baseColour"]["label"] == "Black"


def _garment(label: str, score: float, x: int) -> Garment:
    mask = np.zeros((20, 40), dtype=bool)
    mask[5:15, x:x + 8] = True
    return Garment(label, 0, score, (x, 5, x + 8, 15), _mask=mask, colour={"name": "Red"})


def test_a_product_shot_of_a_pair_of_shoes_is_one_garment_spoken_for_by_the_surest():
    found = [_garment("footwear", 0.4, 0), _garment("footwear", 0.7, 20), _garment("bag", 0.9, 30)]
    garments, speaks = the_product(found, "Sports Shoes")
    assert speaks == [1] and len(garments) == 1
    assert garments[0].label == "footwear" and garments[0].score == 0.7 and garments[0].area == 160
    assert garments[0].box == (0.0, 5.0, 28.0, 15.0)


def test_a_product_shots_kind_spans_its_body_group_but_not_other_accessories():
    assert {"top", "outerwear"} <= product_groups("Shirts") and "pants" not in product_groups("Shirts")
    assert product_groups("Handbags") == {"bag"}
    shirt = [_garment("pants", 0.9, 0), _garment("outerwear", 0.6, 20)]  # a shirt the segmenter calls outerwear
    garments, speaks = the_product(shirt, "Shirts")
    assert [g.label for g in garments] == ["outerwear"] and speaks == [1]
    assert the_product(shirt, "Watches") == ([], [])


@pytest.mark.parametrize("article", ["Accessory Gift Set", "Kurta Sets"])
def test_a_set_keeps_one_garment_per_group(article):
    assert is_set(article) and not is_set("Tshirts") and not is_set(None)
    found = [_garment("top", 0.5, 0), _garment("pants", 0.8, 10), _garment("top", 0.6, 20)]
    garments, speaks = the_product(found, article)
    assert [g.label for g in garments] == ["pants", "top"] and speaks == [1, 2]

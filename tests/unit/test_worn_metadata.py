"""Metadata that fits the photo (fashion.worn.worn_metadata), the trunk projection (fashion.nets.trunk) and
class-agnostic suppression (fashion.garments.masks.suppress_overlaps)."""
from __future__ import annotations

import json

import numpy as np
import torch

from fashion.nets import trunk
from fashion.garments.masks import overlap, suppress_overlaps
from fashion.worn.worn_metadata import (Calibration, garment_metadata, main_garment, men_share, photo_metadata,
                                   worn_gender)

HEADS = {"gender": ["Boys", "Men", "Women"], "articleType": ["Dresses", "Heels", "Watches"],
         "baseColour": ["Black", "Purple"], "season": ["Summer", "Winter"], "usage": ["Casual", "Formal"],
         "scene": ["product", "worn"]}
MAPPING = {"Dresses": {"masterCategory": "Apparel", "subCategory": "Dress"},
           "Heels": {"masterCategory": "Footwear", "subCategory": "Shoes"}}
CAL = Calibration(men_share=0.4, women_share=0.2, garment_men_share=0.5, garment_women_share=0.5,
                  article_score=0.5)


def probs(gender, article, colour=(0.1, 0.9), scene=(0.05, 0.95)):
    return {"gender": np.array(gender), "articleType": np.array(article), "baseColour": np.array(colour),
            "season": np.array([0.8, 0.2]), "usage": np.array([0.7, 0.3]), "scene": np.array(scene)}


def test_a_product_shot_gets_its_heads_answer_and_its_scene():
    md = photo_metadata(probs([0.1, 0.8, 0.1], [0.1, 0.1, 0.8], scene=(0.9, 0.1)), HEADS, MAPPING, "classifier",
                        None, [], CAL)
    assert md["gender"]["label"] == "Men" and md["articleType"]["label"] == "Watches"
    assert md["scene"] == {"label": "product", "score": 0.9} and "garment" not in md


def test_a_worn_photo_takes_the_persons_gender_and_the_main_garments_fields():
    photo = probs([0.05, 0.1, 0.85], [0.0, 0.0, 1.0])  # the whole-photo head says Watches: never used
    garments = [garment_metadata(probs([0, 0.3, 0.7], [0.9, 0.05, 0.05]), photo, HEADS, MAPPING, "classifier", CAL),
                garment_metadata(probs([0, 0.3, 0.7], [0.1, 0.85, 0.05]), photo, HEADS, MAPPING, "classifier", CAL)]
    md = photo_metadata(photo, HEADS, MAPPING, "classifier", garments, [5000, 800], CAL)
    assert md["scene"]["label"] == "worn" and md["garment"] == 0
    assert md["articleType"]["label"] == "Dresses" and md["subCategory"] == "Dress"
    assert md["gender"] == {"label": "Women", "score": round(1 - 0.1 / 0.95, 4)}  # P(Men) share 0.105 <= 0.2
    assert md["productDisplayName"] == "Women Purple Dress"


def test_a_gender_between_the_thresholds_is_null_with_its_reason():
    field = worn_gender(0.3, 0.4, 0.2, "photo")
    assert field["label"] is None and "between the calibrated 0.20 and 0.40" in field["reason"]
    assert worn_gender(0.5, 0.4, 0.2, "photo")["label"] == "Men"
    assert worn_gender(0.1, 0.4, 0.2, "photo")["label"] == "Women"
    assert men_share(np.array([0.2, 0.2, 0.6]), HEADS["gender"]) == 0.25


def test_an_uncertain_garment_says_null_and_the_photo_uses_the_next_known_one():
    photo = probs([0.0, 0.1, 0.9], [0.0, 0.0, 1.0])
    unsure = garment_metadata(probs([0, 0.1, 0.9], [0.4, 0.3, 0.3]), photo, HEADS, MAPPING, "classifier", CAL)
    assert unsure["articleType"]["label"] is None and "below the calibrated 0.50" in unsure["articleType"]["reason"]
    assert unsure["masterCategory"] is None and unsure["subCategory"] is None
    heels = garment_metadata(probs([0, 0.1, 0.9], [0.05, 0.9, 0.05]), photo, HEADS, MAPPING, "classifier", CAL)
    assert main_garment([unsure, heels], [9000, 500]) == 1
    md = photo_metadata(photo, HEADS, MAPPING, "classifier", [unsure, heels], [9000, 500], CAL)
    assert md["articleType"]["label"] == "Heels" and md["productDisplayName"] == "Women Purple Heels"


def test_a_worn_photo_without_garments_says_why():
    photo = probs([0.0, 0.1, 0.9], [0.0, 0.0, 1.0])
    for garments, why in ((None, "not segmented"), ([], "no garment found")):
        md = photo_metadata(photo, HEADS, MAPPING, "classifier", garments, [], CAL)
        assert md["articleType"]["label"] is None and why in md["articleType"]["reason"]
        assert md["gender"]["label"] == "Women" and md["garment"] is None
        json.dumps(md)


def test_the_calibration_file_loads_and_has_every_threshold():
    cal = Calibration.load()
    assert 0 < cal.women_share <= cal.men_share < 1 and cal.garment_gender_from in ("crop", "photo")
    assert "calib part" in cal.calibrated_on


def test_suppression_keeps_one_garment_per_region():
    big = ((0, 0, 10, 10), np.ones((10, 10), bool))
    inner = ((2, 2, 8, 8), np.ones((6, 6), bool))
    apart = ((20, 20, 30, 30), np.ones((10, 10), bool))
    assert overlap(big, inner) == 1.0 and overlap(big, apart) == 0.0
    assert suppress_overlaps([inner, big, apart], [0.9, 0.8, 0.7], 0.7) == [0, 2]
    assert suppress_overlaps([inner, big, apart], [0.9, 0.8, 0.7], 1.01) == [0, 1, 2]


def test_projecting_trunk_features_is_the_towers_embedding(tmp_path):
    head = torch.nn.Sequential(torch.nn.Dropout(0.0), torch.nn.Linear(8, 4, bias=False))
    features = torch.randn(3, 8)
    projection = trunk.Projection.of(head)
    back = trunk.Projection.load(projection.save(tmp_path / "p.pt"))
    want = torch.nn.functional.normalize(head(features), dim=-1).detach().numpy()
    np.testing.assert_allclose(back(features.numpy()), want, atol=1e-6)
    assert trunk.Projection.of(torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.GELU(), torch.nn.Linear(8, 4))) \
        is None
    a, b = torch.nn.Linear(3, 3), torch.nn.Linear(3, 3)
    b.load_state_dict({k: v.half().float() for k, v in a.state_dict().items()})
    assert trunk.digest(a) == trunk.digest(b)


def test_gender_sources_photo_crop_and_mean():
    photo = probs([0.0, 0.8, 0.2], [0.0, 0.0, 1.0])  # the whole photo: P(Men) share 0.8
    crop = probs([0.0, 0.2, 0.8], [0.9, 0.05, 0.05])  # the garment's crop: 0.2
    for source, share in (("crop", 0.2), ("photo", 0.8), ("mean", 0.5)):
        cal = Calibration(garment_men_share=0.45, garment_women_share=0.45, garment_gender_from=source)
        field = garment_metadata(crop, photo, HEADS, MAPPING, "classifier", cal)["gender"]
        assert field["label"] == ("Men" if share >= 0.45 else "Women"), source
    cal = Calibration(men_share=0.6, women_share=0.6, photo_gender_from="mean")
    md = photo_metadata(photo, HEADS, MAPPING, "classifier", [], [], cal, [crop, crop])  # (0.8 + 0.2 + 0.2) / 3
    assert md["gender"]["label"] == "Women" and md["gender"]["score"] == 0.6


def test_a_worn_photo_whose_main_garment_is_unsure_says_null():
    photo = probs([0.0, 0.1, 0.9], [0.0, 0.0, 1.0])
    cal = Calibration(article_score=0.5, photo_article_score=0.8)
    dress = garment_metadata(probs([0, 0.1, 0.9], [0.7, 0.2, 0.1]), photo, HEADS, MAPPING, "classifier", cal)
    md = photo_metadata(photo, HEADS, MAPPING, "classifier", [dress], [900], cal)
    assert dress["articleType"]["label"] == "Dresses" and md["garment"] == 0
    assert md["articleType"]["label"] is None and "below the calibrated 0.80 for a photo" in md["articleType"]["reason"]
    assert md["baseColour"] == dress["baseColour"]


def test_a_garments_articletype_stays_within_its_segmenter_groups_family():
    """A garment the segmenter calls footwear is never "Watches": the likeliest of its group's family, scored by
    its own probability (so the calibrated threshold still reads the model's confidence); without a family (or
    with the option off) the plain argmax."""
    photo = probs([0.0, 0.1, 0.9], [0.0, 0.0, 1.0])
    crop = probs([0, 0.1, 0.9], [0.15, 0.25, 0.6])  # the heads alone say Watches
    kept = garment_metadata(crop, photo, HEADS, MAPPING, "classifier", Calibration(), family=(0, 1))
    assert kept["articleType"] == {"label": "Heels", "score": 0.25} and kept["masterCategory"] == "Footwear"
    unsure = garment_metadata(crop, photo, HEADS, MAPPING, "classifier", CAL, family=(0, 1))
    assert unsure["articleType"]["label"] is None and "Heels scores 0.25" in unsure["articleType"]["reason"]
    assert garment_metadata(crop, photo, HEADS, MAPPING, "classifier", CAL)["articleType"]["label"] == "Watches"
    off = Calibration(article_within_group=False)
    assert garment_metadata(crop, photo, HEADS, MAPPING, "classifier", off, family=(1,))["articleType"]["label"] \
        == "Watches"


def test_group_families_are_indices_of_the_vocabulary():
    from fashion.worn.worn_families import group_families, load

    vocabulary = ["Heels", "Dresses", "Watches", "Sports Shoes"]
    families = group_families(vocabulary)
    assert families["dress"] == (1,) and set(families["footwear"]) == {0, 3}
    assert all(vocabulary[i] in load().groups[g] for g, ids in families.items() for i in ids)
    assert "eyewear" not in families and group_families([]) == {}


def test_a_misspelt_calibration_switch_refuses_to_load() -> None:
    """String switches are checked: a typo would otherwise answer by another rule without a word."""
    import pytest

    from fashion.worn.worn_metadata import Calibration

    with pytest.raises(ValueError, match="garment_gender_from must be one of"):
        Calibration(garment_gender_from="crops")
    with pytest.raises(ValueError, match="main_garment"):
        Calibration(main_garment="biggest")
    assert Calibration.load().photo_gender_from in Calibration.CHOICES["photo_gender_from"]

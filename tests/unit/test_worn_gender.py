"""The wearer's gender from what they wear (fashion.worn.worn_gender) and its fit (training.worn_gender)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fashion.worn import worn_gender
from fashion.worn.worn_gender import OutfitGender, presence, wearer
from fashion.worn.worn_metadata import Calibration, photo_metadata
from training.worn_gender import fit

HEADS = {"gender": ["Boys", "Men", "Women"], "articleType": ["Dresses", "Skirts"], "scene": ["product", "worn"]}
OUTFIT = OutfitGender(("top", "skirt", "pants"), (0.0, -2.0, 1.0), -0.5)
CAL = Calibration(men_share=0.5, women_share=0.4999, photo_gender_from="outfit", outfit_photo_weight=0.5)


def probs(men: float, worn: float = 0.95) -> dict[str, np.ndarray]:
    return {"gender": np.array([0.0, men, 1 - men]), "articleType": np.array([0.5, 0.5]),
            "scene": np.array([1 - worn, worn])}


def test_the_outfit_logit_adds_each_worn_group_once_and_the_photos_weighted_logit():
    assert presence(OUTFIT.groups, ["skirt", "top", "skirt"]).tolist() == [1.0, 1.0, 0.0]
    assert OUTFIT.logit(["pants"]) == pytest.approx(0.5)
    share = OUTFIT.share(["pants"], 0.8, 0.5)
    assert share == pytest.approx(1 / (1 + math.exp(-(0.5 + 0.5 * math.log(0.8 / 0.2)))))
    assert OUTFIT.share(["skirt"], 0.8, 0.5) < 0.5 < share  # a skirt outweighs a photo head leaning Men


def test_the_wearer_is_the_outfits_only_on_a_worn_photo_with_garments_when_calibrated_so():
    assert wearer(OUTFIT, CAL, probs(0.6), HEADS, ["skirt"]) == pytest.approx(OUTFIT.share(["skirt"], 0.6, 0.5))
    assert wearer(OUTFIT, CAL, probs(0.6, worn=0.1), HEADS, ["skirt"]) is None  # a product shot
    assert wearer(OUTFIT, CAL, probs(0.6), HEADS, None) is None  # the segmenter did not run
    assert wearer(None, CAL, probs(0.6), HEADS, ["skirt"]) is None  # no outfit model
    assert wearer(OUTFIT, Calibration(photo_gender_from="photo"), probs(0.6), HEADS, ["skirt"]) is None


def test_a_worn_photo_reads_the_wearers_gender():
    photo = probs(0.7)  # the photo head alone would say Men
    share = wearer(OUTFIT, CAL, photo, HEADS, ["top", "skirt"])
    md = photo_metadata(photo, HEADS, {}, "classifier", [], [], CAL, wearer=share)
    assert md["gender"] == {"label": "Women", "score": round(1 - share, 4)}


def test_the_model_file_round_trips_and_a_mismatched_one_is_refused(tmp_path):
    path = tmp_path / "worn_gender.json"
    assert worn_gender.load(path) is None
    path.write_text(json.dumps({"model": OUTFIT.to_dict()}))
    assert worn_gender.load(path) == OUTFIT
    path.write_text(json.dumps({"model": {**OUTFIT.to_dict(), "coef": [1.0]}}))
    with pytest.raises(ValueError, match="1 coefficients for 3 groups"):
        worn_gender.load(path)


def test_the_shipped_model_names_the_segmenters_groups():
    from fashion.garments import garment_groups

    shipped = worn_gender.load()
    assert shipped is not None and shipped.groups == tuple(garment_groups.load().groups)


def test_fitting_learns_which_garments_lean_to_which_gender():
    rng = np.random.default_rng(0)
    outfits, genders = [], []
    for n in range(200):
        man = n % 4 == 0
        worn = ["top", "pants" if man or rng.random() < 0.3 else "skirt"]
        outfits.append(worn)
        genders.append("Men" if man else "Women")
    model, figures = fit(outfits, genders, ["top", "skirt", "pants"])
    coef = dict(zip(model.groups, model.coef))
    assert coef["skirt"] < 0 < coef["pants"]
    assert figures["men"] == 50 and figures["women"] == 150 and figures["train_balanced_accuracy"] > 0.8
    with pytest.raises(ValueError, match="needs men and women"):
        fit(outfits[1:4], genders[1:4], ["top", "skirt", "pants"])

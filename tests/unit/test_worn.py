"""Worn clothes: the family table, the family loss, the labelled garments of a parsing map, the fixed split."""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch

from fashion.worn.worn_families import load
from training.labels import IGNORE, balanced_weights
from training.worn import MIN_AREA, SEGMENTER_SPLIT, WORN_SPLIT, labelled_garments, worn_split
from training.worn_train import WornGender, family_loss, losses


def test_group_families_are_the_union_of_their_classes():
    families = load()
    assert set(families.groups["footwear"]) >= {"Heels", "Sports Shoes", "Sandals"}
    assert families.groups["pants"] == ("Jeans", "Trousers", "Track Pants")
    assert "glasses" not in families.fine  # no eyeglasses in the catalogue: never scored
    with pytest.raises(ValueError, match="not articleTypes"):
        families.check(["Jeans"])


def test_family_loss_is_minus_log_of_the_mass_on_the_family():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0], [0.0, 0.0, 0.0, 0.0], [5.0, 0.0, 0.0, 0.0]])
    families = torch.tensor([[False, True, True, False], [True, False, False, False], [False] * 4])
    p = torch.softmax(logits, 1)
    expected = (-math.log(float(p[0, 1] + p[0, 2])) - math.log(float(p[1, 0]))) / 2  # the row without one is left out
    assert float(family_loss(logits, families)) == pytest.approx(expected, rel=1e-5)
    assert float(family_loss(logits[2:], families[2:])) == 0.0


def test_labelled_garments_keep_classes_with_a_family_and_enough_pixels():
    names = ["null", "skin", "jeans", "heels", "belt"]
    label_map = np.zeros((100, 80), dtype=np.uint8)
    label_map[:60, :] = 1  # skin: no family
    label_map[60:, :] = 2  # jeans: 3,200 pixels
    label_map[98:, :5] = 3  # heels: 10 pixels, too small
    label_map[55:60, :] = 4  # belt: 400 pixels
    garments = labelled_garments(label_map, names, load())
    assert [g.label for g in garments] == ["jeans"] and MIN_AREA > 400
    assert garments[0].box == (0.0, 60.0, 80.0, 100.0) and garments[0].mask.sum() == 40 * 80 - 10


def test_the_worn_split_is_fixed_and_its_val_is_the_segmenters():
    split = worn_split()
    with open(SEGMENTER_SPLIT, newline="") as f:
        segmenter = {r["id"]: r["split"] for r in csv.DictReader(f)}
    assert WORN_SPLIT.is_file() and split.keys() == segmenter.keys()
    assert {s for s, p in split.items() if p == "val"} == {s for s, p in segmenter.items() if p == "val"}
    assert sum(p == "calib" for p in split.values()) == 150
    assert all(segmenter[s] == "train" for s, p in split.items() if p == "calib")


def test_balanced_weights_give_each_gender_the_same_total():
    targets = torch.tensor([0] * 85 + [1] * 15 + [IGNORE] * 7)
    w = balanced_weights(targets, 2)
    assert math.isclose(float(w[0] * 85), float(w[1] * 15), rel_tol=1e-6)
    assert math.isclose(float(w.mean()), 1.0, rel_tol=1e-6)


def test_street_rows_gender_loss_uses_its_own_weights():
    """One weighted mean: product rows keep the products' weights, street rows use the balanced ones."""
    torch.manual_seed(0)
    gender, article = torch.randn(6, 2), torch.randn(6, 4)
    targets = torch.tensor([[0, 1], [1, 2], [0, 0], [0, 3], [1, IGNORE], [0, IGNORE]])
    worn = torch.tensor([False, False, False, True, True, True])
    families = torch.zeros(6, 4, dtype=torch.bool)
    plain = [torch.ones(2), torch.ones(4)]
    street = WornGender(head=0, weights=torch.tensor([0.5, 1.5]))
    got = losses((gender, article), targets, families, plain, 1, 0.0, worn, street)
    nll = -torch.log_softmax(gender, 1)[torch.arange(6), targets[:, 0]]
    row_w = torch.tensor([1.0, 1.0, 1.0, 0.5, 1.5, 0.5])  # products: plain; street rows: by their gender
    want = (nll * row_w).sum() / row_w.sum() + torch.nn.functional.cross_entropy(article, targets[:, 1],
                                                                                  ignore_index=IGNORE)
    assert torch.allclose(got, want)
    assert not torch.allclose(got, losses((gender, article), targets, families, plain, 1, 0.0))


def test_a_head_the_catalogue_has_no_label_for_is_missing_not_an_error():
    """The shipped attribute model carries a `scene` head (trained on worn photos) that product rows never label:
    `training evaluate` encodes it as missing (IGNORE) for every row."""
    from pathlib import Path

    from training.catalogue import Record
    from training.labels import encode

    rows = [Record("1", Path("1.jpg"), {"gender": "Men"}, None, None)]
    targets = encode(rows, {"gender": ["Men", "Women"], "scene": ["product", "worn"]})
    assert targets.tolist() == [[0, IGNORE]]

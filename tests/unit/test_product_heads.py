"""The product-only heads refitted for accuracy on fixed features (training/product_heads.py)."""
from __future__ import annotations

import collections

import numpy as np
import torch

from training.labels import vocabulary
from training.product_heads import choose, logistic_head, without_head


def _features(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, 300)
    x = (np.eye(3)[y] * 3 + rng.normal(size=(300, 3))).astype(np.float32)
    parts = np.where(np.arange(300) < 200, "train", "val")
    return x, y, parts


def test_a_logistic_head_covers_the_whole_vocabulary_and_never_answers_a_class_without_rows():
    x, y, _ = _features()
    head = logistic_head(x, y, classes=5, c=1.0)
    said = head(torch.from_numpy(x)).argmax(1).numpy()
    assert head.out_features == 5 and set(said) <= {0, 1, 2} and (said == y).mean() > 0.8


def test_the_best_val_accuracy_is_kept_and_a_better_head_beats_the_initial_one():
    x, y, parts = _features()
    useless = torch.nn.Linear(3, 3)
    with torch.no_grad():
        useless.weight.zero_()
        useless.bias.copy_(torch.tensor([1.0, 0.0, 0.0]))  # always class 0
    head, chosen = choose(x, y, parts, 3, (0.1, 1.0), useless)
    assert chosen["chosen"] != "initial" and chosen["val_accuracy"]["initial"] < 0.5
    assert max(chosen["val_accuracy"].values()) == chosen["val_accuracy"][str(chosen["chosen"])]
    ignored = y.copy()
    ignored[:50] = -1  # missing labels take no part
    assert choose(x, ignored, parts, 3, (1.0,), None)[1]["chosen"] == 1.0


def test_rare_subcategories_merge_into_other():
    assert vocabulary(collections.Counter(["Topwear"] * 3 + ["Bags"] * 2 + ["Cufflinks"]), 2) == \
        ["Bags", "Topwear", "Other"]
    assert vocabulary(collections.Counter(["Topwear"] * 3), 2) == ["Topwear"]


def test_two_classes_give_a_head_that_tells_them_apart():
    x, y, _ = _features()
    keep = y < 2
    head = logistic_head(x[keep], y[keep], classes=3, c=1.0)
    said = head(torch.from_numpy(x[keep])).argmax(1).numpy()
    assert (said == y[keep]).mean() > 0.9 and set(said) == {0, 1}


def test_a_head_leaves_a_state_dict_and_the_later_heads_move_up():
    state = {"backbone.w": 0, "heads.0.weight": 1, "heads.1.weight": 2, "heads.2.weight": 3}
    assert without_head(state, ["gender", "subCategory", "scene"], "subCategory") == \
        {"backbone.w": 0, "heads.0.weight": 1, "heads.1.weight": 3}
    assert without_head(state, ["gender", "usage", "scene"], "subCategory") == state

"""Garment by words without models: option parsing, the blended ranking and its threshold, the envelope and the
response shape."""
from __future__ import annotations

import numpy as np
import pytest

from fashion.stages import garment_prompt
from fashion.envelope import pack, unpack
from fashion.results import Envelope, ImageResult, Picture, PromptMatch
from fashion.errors import InvalidInput
from fashion.request.options import Options, parse_options


def test_prompt_option_is_validated() -> None:
    assert parse_options({"prompt": "  red dress "}).prompt == "red dress"
    assert parse_options({"prompt": ""}).prompt is None
    for bad in ("   ", "x" * 81, 5, ["a"]):
        with pytest.raises(InvalidInput, match="prompt"):
            parse_options({"prompt": bad})


def test_rank_blends_crop_and_label_and_applies_the_threshold() -> None:
    text = np.array([1.0, 0.0, 0.0])
    crops = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # the second garment looks like the prompt
    labels = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # ... but the first one's label reads like it
    scores, best = garment_prompt.rank(text, crops, labels, cut=0.0)
    w = garment_prompt.LABEL_WEIGHT
    assert scores == pytest.approx([w / (1 + w), 1 / (1 + w)], abs=1e-4) and best == 0
    assert garment_prompt.rank(text, crops, labels, cut=0.99)[1] is None
    assert garment_prompt.rank(text, np.zeros((0, 3)), np.zeros((0, 3))) == ([], None)
    assert -1 <= garment_prompt.threshold() <= 1 and garment_prompt.calibration()["embedder"]


def test_prompt_travels_between_workflow_nodes() -> None:
    prompt = PromptMatch("shoes", [0.5, 0.1], 0, 0.4)
    env = Envelope("single", Options(prompt="shoes"), [ImageResult(Picture(b"x", (2, 2)),
                                                                   outputs={PromptMatch: prompt})])
    back = unpack(pack(env))
    assert back.options.prompt == "shoes" and back.items[0].get(PromptMatch) == prompt

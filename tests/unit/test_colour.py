"""Dominant colour inside a mask, on synthetic images with known colours."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from fashion.garments.colour import NOT_A_COLOUR, distinct, dominant_colour, hex_to_rgb, table
from handlers.model_handler import ModelHandler
from tests.unit.tiny_models import FakeContext, build_artifacts

TABLE = table()

NAMED = [n for n, (h, _) in TABLE.items() if h and n not in NOT_A_COLOUR]


def canvas(colour: str, size: tuple[int, int] = (60, 80)) -> np.ndarray:
    return np.tile(np.array(hex_to_rgb(TABLE[colour][0]), np.uint8), (*size, 1))


@pytest.mark.parametrize("name", NAMED)
def test_every_table_colour_names_itself(name):
    out = dominant_colour(canvas(name), np.ones((60, 80), bool))
    assert out == {"name": name, "hex": TABLE[name][0].upper(), "share": 1.0}


def test_share_and_hex_follow_the_mask_not_the_image():
    image = canvas("Red")
    image[:, :56] = hex_to_rgb(TABLE["Navy Blue"][0])  # 70 % navy, 30 % red
    everywhere = dominant_colour(image, np.ones((60, 80), bool))
    assert everywhere["name"] == "Navy Blue" and everywhere["share"] == pytest.approx(0.7, abs=0.01)
    red_only = np.zeros((60, 80), bool)
    red_only[:, 60:] = True
    assert dominant_colour(image, red_only) == {"name": "Red", "hex": TABLE["Red"][0], "share": 1.0}


def test_shading_and_noise_keep_the_name():
    rng = np.random.default_rng(0)
    shade = np.linspace(0.8, 1.15, 80)[None, :, None]  # a lit-to-shadow gradient
    image = np.clip(canvas("Olive").astype(float) * shade + rng.normal(0, 6, (60, 80, 3)), 0, 255).astype(np.uint8)
    assert dominant_colour(image, np.ones((60, 80), bool))["name"] == "Olive"


def test_tiny_mask_has_no_colour_and_result_is_deterministic():
    image = np.random.default_rng(1).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    tiny = np.zeros((60, 80), bool)
    tiny[0, :5] = True
    assert dominant_colour(image, tiny) is None
    full = np.ones((60, 80), bool)
    assert dominant_colour(image, full) == dominant_colour(image, full)


def test_served_garment_colour_is_measured_inside_its_mask(tmp_path):
    """FixedSegmenter's pants: box x 44..84, mask only x < 64. Left half navy, right half red."""
    image = np.zeros((96, 128, 3), np.uint8)
    image[:, :64], image[:, 64:] = hex_to_rgb(TABLE["Navy Blue"][0]), hex_to_rgb(TABLE["Red"][0])
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    context = FakeContext(build_artifacts(tmp_path), "segmenter")
    handler = ModelHandler()
    handler.initialize(context)
    (garment,) = json.loads(handler.handle([{"body": buf.getvalue()}], context)[0])["garments"]
    assert garment["colour"] == {"name": "Navy Blue", "hex": TABLE["Navy Blue"][0], "share": 1.0}


def test_distinct_counts_colours_up_to_its_cap_as_unique_does():
    rng = np.random.default_rng(0)
    for _ in range(500):
        palette = rng.integers(0, 256, (int(rng.integers(1, 6)), 3))
        pixels = palette[rng.integers(0, len(palette), int(rng.integers(1, 60)))].astype(np.uint8)
        full = len(np.unique(pixels.reshape(-1, 3), axis=0))
        assert distinct(pixels, 3) == min(3, full)

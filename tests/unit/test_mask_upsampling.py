"""A garment's mask upsampled inside its box (roi_align's arithmetic) equals the whole logit map upsampled to the image
(bilinear, align_corners=False) and cut to the box; a garment kept that way gives the same full-size mask, RLE,
area and colour as one made from the full-size mask."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from fashion.garments.colour import dominant_colour, dominant_colours
from fashion.garments.masks import encode_rle, encode_window_rle
from fashion.results import Garment
from fashion.stages.segment import Segmenter


def test_box_upsampling_equals_full_upsampling() -> None:
    gen = torch.Generator().manual_seed(0)
    cases = (((550, 842), (100, 200, 300, 700)), ((640, 480), (0, 0, 640, 480)), ((333, 517), (5, 9, 17, 400)))
    for size, box in cases:
        logits = torch.randn(40, 27, generator=gen)
        width, height = size
        full = F.interpolate(logits[None, None], size=(height, width), mode="bilinear", align_corners=False)[0, 0] > 0
        x1, y1, x2, y2 = box
        expected = full[y1:y2, x1:x2].numpy()
        window, got = Segmenter._mask(logits.numpy(), box, size)  # only the box is computed and kept
        assert window == box and got.shape == expected.shape
        assert (got != expected).sum() <= 0.001 * expected.sum()
    assert Segmenter._mask(np.full((8, 8), -1.0, np.float32), (0, 0, 4, 4), (16, 16)) is None


def test_window_rle_equals_full_rle() -> None:
    rng = np.random.default_rng(0)
    for _ in range(500):
        height, width = (int(v) for v in rng.integers(1, 50, 2))
        x1, y1 = int(rng.integers(0, width)), int(rng.integers(0, height))
        x2, y2 = int(rng.integers(x1 + 1, width + 1)), int(rng.integers(y1 + 1, height + 1))
        inside = rng.random((y2 - y1, x2 - x1)) < rng.random()
        full = np.zeros((height, width), dtype=bool)
        full[y1:y2, x1:x2] = inside
        assert encode_window_rle(inside, (x1, y1, x2, y2), (height, width)) == encode_rle(full)


def test_a_garment_in_its_box_is_the_same_garment() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    inside = rng.random((30, 25)) < 0.7
    full = np.zeros((60, 80), dtype=bool)
    full[10:40, 20:45] = inside
    boxed = Garment("top", 0, 0.9, (20.2, 10.0, 44.5, 39.1), _local=((20, 10, 45, 40), inside), _size=(60, 80))
    whole = Garment("top", 0, 0.9, (20.2, 10.0, 44.5, 39.1), _mask=full)
    assert boxed.area == whole.area and boxed.rle == whole.rle and (boxed.mask == full).all()
    assert whole.local[0] == (20, 10, 45, 40) and (whole.local[1] == inside).all()
    window = (image[10:40, 20:45], inside)
    assert dominant_colours([window, window], threads=2) == [dominant_colour(image, full)] * 2

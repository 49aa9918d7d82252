"""A garment's mask upsampled inside its box (roi_align) equals the whole logit map upsampled to the image
(bilinear, align_corners=False) and cut to the box."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from fashion.segment import Segmenter


def test_box_upsampling_equals_full_upsampling() -> None:
    gen = torch.Generator().manual_seed(0)
    cases = (((550, 842), (100, 200, 300, 700)), ((640, 480), (0, 0, 640, 480)), ((333, 517), (5, 9, 17, 400)))
    for size, box in cases:
        logits = torch.randn(40, 27, generator=gen)
        width, height = size
        full = F.interpolate(logits[None, None], size=(height, width), mode="bilinear", align_corners=False)[0, 0] > 0
        expected = np.zeros((height, width), dtype=bool)
        x1, y1, x2, y2 = box
        expected[y1:y2, x1:x2] = full[y1:y2, x1:x2].numpy()
        got = Segmenter._mask(logits, box, size)
        assert got is not None and (got != expected).sum() <= 0.001 * expected.sum()
    assert Segmenter._mask(torch.full((8, 8), -1.0), (0, 0, 4, 4), (16, 16)) is None

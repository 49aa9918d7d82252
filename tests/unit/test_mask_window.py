"""fashion.garments.mask_window: the same numbers as torchvision's roi_align (aligned, one sample per output pixel),
which made the served masks, for windows anywhere in images of any size."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from fashion.garments.mask_window import mask_in_window, sample_window


def _roi_align(logits: torch.Tensor, window: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    (x1, y1, x2, y2), (width, height) = window, size
    sx, sy = logits.shape[1] / width, logits.shape[0] / height
    roi = logits.new_tensor([[0, x1 * sx, y1 * sy, x2 * sx, y2 * sy]])
    return torchvision.ops.roi_align(logits[None, None], roi, (y2 - y1, x2 - x1), spatial_scale=1.0,
                                     sampling_ratio=1, aligned=True)[0, 0].numpy()


@pytest.mark.parametrize("seed", range(4))
def test_the_same_floats_as_roi_align(seed: int) -> None:
    rng = np.random.default_rng(seed)
    checked = 0
    while checked < 150:
        lh, lw = (int(v) for v in rng.integers(8, 120, 2))
        width, height = (int(v) for v in rng.integers(16, 1600, 2))
        x1, x2 = sorted(int(v) for v in rng.integers(0, width + 1, 2))
        y1, y2 = sorted(int(v) for v in rng.integers(0, height + 1, 2))
        if x2 <= x1 or y2 <= y1:
            continue
        logits = torch.from_numpy(rng.normal(0, 1, (lh, lw)).astype(np.float32))
        expected = _roi_align(logits, (x1, y1, x2, y2), (width, height))
        got = sample_window(logits.numpy(), (x1, y1, x2, y2), (width, height))
        assert got.dtype == np.float32 and got.shape == (y2 - y1, x2 - x1)
        np.testing.assert_array_equal(got, expected)
        checked += 1


def test_a_view_of_a_larger_map_and_the_whole_image() -> None:
    maps = torch.randn(3, 80, 96)
    logits = maps[1, 5:70, 8:90]  # the letterboxed content of one garment's map: a strided view
    window, size = (0, 0, 300, 240), (300, 240)
    np.testing.assert_array_equal(mask_in_window(logits.numpy(), window, size),
                                  _roi_align(logits.contiguous(), window, size) > 0)

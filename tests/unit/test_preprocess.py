"""Preprocessing shortcuts equal what they replace: the letterbox's bilinear downscale equals F.interpolate's,
and the resize equals torchvision's for images within REDUCING_GAP of their target."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from fashion.manifest import InputSpec
from fashion.stages.preprocess import _bilinear_down, letterbox, resize_crop_pixels


def test_bilinear_downscale_equals_interpolate():
    rng = np.random.default_rng(0)
    for _ in range(100):
        height, width = (int(v) for v in rng.integers(2, 300, 2))
        new_h, new_w = int(rng.integers(1, height + 1)), int(rng.integers(1, width + 1))
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        ref = F.interpolate(torch.from_numpy(pixels).permute(2, 0, 1)[None].float(), size=(new_h, new_w),
                            mode="bilinear", align_corners=False)
        assert float((ref - _bilinear_down(pixels, new_w, new_h)).abs().max()) < 0.01  # of 255: float rounding


def test_letterbox_takes_the_image_or_its_array():
    spec = InputSpec((64, 64), "letterbox", "bilinear")
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (90, 130, 3), dtype=np.uint8))
    (a, fa), (b, fb) = letterbox(image, spec), letterbox(np.asarray(image), spec)
    assert fa == fb and torch.equal(a, b)


def test_resize_is_torchvisions_for_ordinary_photos():
    spec = InputSpec((112, 112), "shortest_crop", "bicubic")
    rng = np.random.default_rng(2)
    for size in ((550, 842), (224, 224), (60, 80), (700, 300)):
        image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
        ref = TF.pil_to_tensor(TF.center_crop(TF.resize(image, 112, interpolation=InterpolationMode.BICUBIC),
                                              [112, 112]))
        assert torch.equal(resize_crop_pixels(image, spec), ref), size

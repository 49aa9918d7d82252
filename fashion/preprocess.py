"""preprocess: PIL images -> model input tensors, driven by each archive's InputSpec."""
from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from fashion.manifest import InputSpec

if TYPE_CHECKING:
    from fashion.segment import Garment

_PIL_MODES = {"bilinear": InterpolationMode.BILINEAR, "bicubic": InterpolationMode.BICUBIC}


@dataclasses.dataclass(frozen=True)
class Letterbox:
    """How an image was placed in the model input: scale, then padding on the left and top."""
    scale: float
    left: int
    top: int
    width: int  # resized content size inside the input
    height: int


def letterbox(image: Image.Image, spec: InputSpec) -> tuple[torch.Tensor, Letterbox]:
    """Resize keeping aspect ratio, pad to spec.size with spec.pad_value (YOLO's letterbox)."""
    out_h, out_w = spec.size
    w, h = image.size
    scale = min(out_h / h, out_w / w)
    new_w, new_h = round(w * scale), round(h * scale)
    left, top = round((out_w - new_w) / 2 - 0.1), round((out_h - new_h) / 2 - 0.1)
    x = TF.pil_to_tensor(image).unsqueeze(0).float()
    if (new_w, new_h) != (w, h):
        x = F.interpolate(x, size=(new_h, new_w), mode=spec.interpolation, align_corners=False)
    canvas = torch.full((1, 3, out_h, out_w), float(spec.pad_value))
    canvas[:, :, top:top + new_h, left:left + new_w] = x
    canvas = (canvas / 255.0 - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(1, 3, 1, 1)
    return canvas[0], Letterbox(scale, left, top, new_w, new_h)


def resize_crop_pixels(image: Image.Image, spec: InputSpec) -> torch.Tensor:
    """Resize the short side to size / crop_pct and centre crop (or, for "squash", straight to the input size,
    aspect ratio not kept): uint8 (3, H, W), not yet normalised."""
    out_h, out_w = spec.size
    if spec.resize == "squash":
        return TF.pil_to_tensor(TF.resize(image, [out_h, out_w], interpolation=_PIL_MODES[spec.interpolation]))
    short = math.floor(min(out_h, out_w) / spec.crop_pct)
    x = TF.resize(image, short, interpolation=_PIL_MODES[spec.interpolation])
    return TF.pil_to_tensor(TF.center_crop(x, [out_h, out_w]))


def normalize(pixels: torch.Tensor, spec: InputSpec) -> torch.Tensor:
    """uint8 pixels (..., 3, H, W) -> float32 scaled to [0, 1] and normalised with the spec's mean/std."""
    return TF.normalize(TF.to_dtype(pixels, torch.float32, scale=True), list(spec.mean), list(spec.std))


def resize_crop(image: Image.Image, spec: InputSpec) -> torch.Tensor:
    """The CLIP and timm eval transform; training caches resize_crop_pixels and normalises per batch."""
    return normalize(resize_crop_pixels(image, spec), spec)


def mean_fill(spec: InputSpec) -> tuple[int, int, int]:
    """The colour outside a garment's mask in its crop: the model's mean colour (zero after normalisation)."""
    return tuple(int(round(v * 255)) for v in spec.mean)


def garment_crops(image: Image.Image, garments: list[Garment], fill: tuple[int, int, int]) -> list[Image.Image]:
    """Each garment cut to its box, with pixels outside its mask set to `fill`."""
    out = []
    for g in garments:
        window, inside = g.local
        crop = image.crop(window)
        mask = Image.fromarray(inside.astype(np.uint8) * 255)
        out.append(Image.composite(crop, Image.new("RGB", crop.size, fill), mask))
    return out


def model_pixels(image: Image.Image, spec: InputSpec, garments: list[Garment] | None = None,
                 whole: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 (1 + garments, 3, H, W): the whole image then each garment's masked crop, resized for `spec`.
    `whole`: the image's pixels for this spec already made (models that share an input spec share them)."""
    first = resize_crop_pixels(image, spec)[None] if whole is None else whole[:1]
    if not garments:
        return first
    crops = garment_crops(image, garments, mean_fill(spec))
    return torch.cat([first, torch.stack([resize_crop_pixels(c, spec) for c in crops])])

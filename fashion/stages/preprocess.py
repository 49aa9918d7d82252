"""preprocess: PIL images -> model input tensors, driven by each archive's InputSpec."""
from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms.v2 import functional as TF

from fashion.manifest import InputSpec
from fashion.threads import pool

if TYPE_CHECKING:
    from fashion.results import Garment

_PIL_FILTERS = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}
# Pillow's reducing_gap: an image more than 2 x 3 times larger than its target is first reduced by an integer
# factor (a box filter), then resampled; "indistinguishable from fair resampling" (Pillow's docs). Photos up to
# ~6x the target (a 0.5 MP street photo to 112 px, every catalogue photo) resize exactly as without it; an 8 MP
# photo differs by 0.2 levels on average and resizes 5x faster.
REDUCING_GAP = 3.0


@dataclasses.dataclass(frozen=True)
class Letterbox:
    """How an image was placed in the model input: scale, then padding on the left and top."""
    scale: float
    left: int
    top: int
    width: int  # resized content size inside the input
    height: int


def letterbox(image: Image.Image | np.ndarray, spec: InputSpec) -> tuple[torch.Tensor, Letterbox]:
    """Resize keeping aspect ratio, pad to spec.size with spec.pad_value (YOLO's letterbox). image: PIL or RGB
    uint8 (H, W, 3) (the pipeline passes the array it made once per image)."""
    pixels = np.asarray(image)
    out_h, out_w = spec.size
    h, w = pixels.shape[:2]
    scale = min(out_h / h, out_w / w)
    new_w, new_h = round(w * scale), round(h * scale)
    left, top = round((out_w - new_w) / 2 - 0.1), round((out_h - new_h) / 2 - 0.1)
    if spec.interpolation == "bilinear" and new_w <= w and new_h <= h:
        x = _bilinear_down(pixels, new_w, new_h)
    else:
        x = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))[None].float()
        if (new_w, new_h) != (w, h):
            x = F.interpolate(x, size=(new_h, new_w), mode=spec.interpolation, align_corners=False)
    canvas = torch.full((1, 3, out_h, out_w), float(spec.pad_value))
    canvas[:, :, top:top + new_h, left:left + new_w] = x
    canvas = canvas / 255.0
    if any(spec.mean) or any(v != 1 for v in spec.std):  # YOLO's 0 and 1 would change nothing, at a full pass each
        canvas = (canvas - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(1, 3, 1, 1)
    return canvas[0], Letterbox(scale, left, top, new_w, new_h)


def _taps(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear sample positions as F.interpolate computes them (align_corners=False): first and second source
    index and the second one's weight, per output pixel."""
    src = np.maximum((np.arange(size_out) + 0.5) * (size_in / size_out) - 0.5, 0.0)
    first = np.minimum(src.astype(np.int64), size_in - 1)
    return first, np.minimum(first + 1, size_in - 1), (src - first).astype(np.float32)


def _bilinear_down(pixels: np.ndarray, width: int, height: int) -> torch.Tensor:
    """F.interpolate(bilinear, align_corners=False) of an RGB uint8 (H, W, 3) image to a smaller size, reading
    only the rows and columns it samples (no float copy of the whole photo): (1, 3, height, width) float32, equal
    to F.interpolate's up to float rounding. The output rows are split over the helper threads (numpy releases
    the GIL; each pixel's arithmetic is the same however they are split)."""
    r0, r1, wr = _taps(pixels.shape[0], height)
    c0, c1, wc = _taps(pixels.shape[1], width)
    first, second = (np.repeat(c * 3, 3) + np.tile(np.arange(3), width) for c in (c0, c1))
    weight = np.repeat(wc, 3)

    out = np.empty((3, height, width), np.float32)

    def rows(span: slice) -> None:
        lo, hi, w = r0[span], r1[span], wr[span]
        mixed = (pixels[lo].astype(np.float32) * (1 - w)[:, None, None]
                 + pixels[hi].astype(np.float32) * w[:, None, None])
        flat = mixed.reshape(len(lo), -1)  # columns gathered as (pixel, channel) pairs along one axis: 25 % faster
        done = flat[:, first] * (1 - weight) + flat[:, second] * weight
        out[:, span] = done.reshape(len(lo), width, 3).transpose(2, 0, 1)

    threads = torch.get_num_threads()
    if threads > 1 and height >= 2 * threads:
        bounds = np.linspace(0, height, threads + 1).astype(int)
        list(pool(threads).map(rows, [slice(a, b) for a, b in zip(bounds, bounds[1:])]))
    else:
        rows(slice(None))
    return torch.from_numpy(out)[None]


def resize_crop_pixels(image: Image.Image, spec: InputSpec) -> torch.Tensor:
    """Resize the short side to size / crop_pct and centre crop (or, for "squash", straight to the input size,
    aspect ratio not kept): uint8 (3, H, W), not yet normalised."""
    out_h, out_w = spec.size
    if spec.resize == "squash":
        return TF.pil_to_tensor(_resize(image, out_w, out_h, spec.interpolation))
    short = math.floor(min(out_h, out_w) / spec.crop_pct)
    w, h = image.size
    size = (short, int(short * h / w)) if w <= h else (int(short * w / h), short)  # torchvision's rounding
    return TF.pil_to_tensor(TF.center_crop(_resize(image, *size, spec.interpolation), [out_h, out_w]))


def _resize(image: Image.Image, width: int, height: int, interpolation: str) -> Image.Image:
    """torchvision's resize of a PIL image (Pillow's antialiased filters), with REDUCING_GAP for large images."""
    if image.size == (width, height):
        return image
    return image.resize((width, height), _PIL_FILTERS[interpolation], reducing_gap=REDUCING_GAP)


def normalize(pixels: torch.Tensor, spec: InputSpec) -> torch.Tensor:
    """uint8 pixels (..., 3, H, W) -> float32 scaled to [0, 1] and normalised with the spec's mean/std."""
    return TF.normalize(TF.to_dtype(pixels, torch.float32, scale=True), list(spec.mean), list(spec.std))


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
    if not garments:
        return resize_crop_pixels(image, spec)[None] if whole is None else whole[:1]
    crops = garment_crops(image, garments, mean_fill(spec))
    todo = crops if whole is not None else [image, *crops]
    threads = torch.get_num_threads()  # Pillow releases the GIL while it resizes: the crops on the helper threads
    done = list(pool(threads).map(lambda c: resize_crop_pixels(c, spec), todo)) if threads > 1 else \
        [resize_crop_pixels(c, spec) for c in todo]
    return torch.stack(done) if whole is None else torch.cat([whole[:1], torch.stack(done)])

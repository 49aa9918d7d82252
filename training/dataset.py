"""decode + preprocess once: every image resized with the SERVING transform into one uint8 tensor in memory.

Training and serving share `fashion.stages.preprocess.resize_crop_pixels` and `normalize`, so a trained model sees
the same pixels in production. Augmentation is geometric only (flip, mild resized crop): colour jitter would
corrupt the baseColour labels.
"""
from __future__ import annotations

import concurrent.futures

import torch
from torchvision.transforms import v2

from fashion.request.decode import decode_image
from fashion.manifest import InputSpec
from fashion.stages.preprocess import normalize, resize_crop_pixels
from training.catalogue import Problems, Record


def _pixels(record: Record, spec: InputSpec) -> torch.Tensor | Exception:
    try:
        return resize_crop_pixels(decode_image(record.image.read_bytes()), spec)
    except Exception as exc:  # unreadable or refused image: reported by the caller, never fatal
        return exc


def cache_pixels(records: list[Record], spec: InputSpec, problems: Problems,
                 workers: int = 2) -> tuple[list[Record], torch.Tensor]:
    """(the records whose image decoded, their pixels as uint8 (N, 3, H, W)); the rest go to `problems`."""
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda r: _pixels(r, spec), records))
    kept, tensors = [], []
    for record, result in zip(records, results):
        if isinstance(result, Exception):
            problems.add("unreadable image", f"{record.id}: {result}")
            continue
        kept.append(record)
        tensors.append(result)
    if not tensors:
        return kept, torch.empty(0, 3, *spec.size, dtype=torch.uint8)
    return kept, torch.stack(tensors)


class Augment:
    """Random horizontal flip and a mild random resized crop, per image, on uint8 pixels."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.transform = v2.Compose([v2.RandomHorizontalFlip(),
                                     v2.RandomResizedCrop(size, scale=(0.65, 1.0), ratio=(0.8, 1.25), antialias=True)])

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.transform(p) for p in pixels])


def batches(n: int, batch_size: int, shuffle: bool, generator: torch.Generator | None = None):
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for i in range(0, n, batch_size):
        yield order[i:i + batch_size]


def model_input(pixels: torch.Tensor, spec: InputSpec) -> torch.Tensor:
    return normalize(pixels, spec)

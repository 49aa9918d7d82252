"""The request limits, parsed once from the environment into a frozen object (on first use, never at import).

MAX_BATCH_IMAGES (16), MAX_REQUEST_BYTES (64 MB: config.properties' max_request_size, TorchServe refuses bigger
bodies first; a test keeps the two equal), MAX_IMAGE_SIDE (8192) and MAX_IMAGE_PIXELS (40 MP).
"""
from __future__ import annotations

import dataclasses
import functools
import os
from typing import Mapping


@dataclasses.dataclass(frozen=True)
class Limits:
    max_batch_images: int = 16
    max_request_bytes: int = 64 * 1024 * 1024
    max_image_side: int = 8192
    max_image_pixels: int = 40_000_000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Limits":
        env = os.environ if env is None else env
        return cls(**{f.name: int(env.get(f.name.upper(), f.default)) for f in dataclasses.fields(cls)})


@functools.lru_cache(maxsize=1)
def limits() -> Limits:
    return Limits.from_env()

"""The request limits are read once from the environment into a frozen object, never at import."""
from __future__ import annotations

import dataclasses

import pytest

from fashion.request.limits import Limits


def test_limits_from_the_environment_with_defaults() -> None:
    assert Limits.from_env({}) == Limits()
    got = Limits.from_env({"MAX_BATCH_IMAGES": "4", "MAX_IMAGE_SIDE": "1024"})
    assert (got.max_batch_images, got.max_image_side, got.max_image_pixels) == (4, 1024, 40_000_000)
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.max_batch_images = 5  # type: ignore[misc]

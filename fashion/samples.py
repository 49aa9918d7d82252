"""A synthetic image for warm-up and readiness probes (no data files needed)."""
from __future__ import annotations

import io

from PIL import Image


def synthetic_jpeg(size: tuple[int, int] = (320, 480)) -> bytes:
    buf = io.BytesIO()
    Image.linear_gradient("L").resize(size).convert("RGB").save(buf, format="JPEG")
    return buf.getvalue()

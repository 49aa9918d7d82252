"""encode: images -> a Vertex-shaped request body under a size limit, shrinking images only as needed."""
from __future__ import annotations

import base64
import io
import json
from typing import Any

from PIL import Image, ImageOps

from fashion.request.limits import VERTEX_REQUEST_BYTES

SHRINK_STEP = 0.8  # each try scales the longest side by this
MIN_SIDE = 256


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def shrink(data: bytes, budget: int) -> bytes:
    """The image as is when its base64 fits `budget` bytes, else a smaller JPEG that does."""
    if len(data) * 4 // 3 + 4 <= budget:
        return data
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    quality = 90
    while True:
        out = _jpeg(image, quality)
        if len(out) * 4 // 3 + 4 <= budget:
            return out
        if max(image.size) * SHRINK_STEP < MIN_SIDE:
            if quality <= 50:
                raise ValueError(f"cannot fit the image into {budget} bytes; send fewer images per request")
            quality -= 10
            continue
        image = image.resize((round(image.width * SHRINK_STEP), round(image.height * SHRINK_STEP)),
                             Image.Resampling.LANCZOS)


def vertex_body(images: list[bytes], parameters: dict[str, Any] | None = None,
                max_bytes: int = VERTEX_REQUEST_BYTES) -> bytes:
    """{"instances": [{"b64": ...}, ...], "parameters": {...}} of at most max_bytes (0: no limit)."""
    overhead = len(json.dumps({"instances": [{"b64": ""}] * len(images), "parameters": parameters or {}}))
    budget = (max_bytes - overhead) // max(1, len(images)) if max_bytes else 1 << 62
    instances = [{"b64": base64.b64encode(shrink(i, budget)).decode()} for i in images]
    return json.dumps({"instances": instances, "parameters": parameters or {}}).encode()

"""Mask encodings: COCO RLE through pycocotools, polygons through OpenCV."""
from __future__ import annotations

from typing import Any

import numpy as np
from pycocotools import mask as mask_utils


def encode_rle(mask: np.ndarray) -> dict[str, Any]:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def decode_rle(rle: dict[str, Any]) -> np.ndarray:
    return mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode("ascii")}).astype(bool)


def rle_area(rle: dict[str, Any]) -> int:
    return int(mask_utils.area({"size": rle["size"], "counts": rle["counts"].encode("ascii")}))


def polygons(mask: np.ndarray) -> list[list[float]]:
    """Outer contours as flat [x1, y1, x2, y2, ...] lists (COCO polygon style)."""
    import cv2  # lazy: only polygon requests need it

    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]

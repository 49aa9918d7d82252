"""Mask encodings: COCO RLE through pycocotools, polygons through OpenCV."""
from __future__ import annotations

from typing import Any

import numpy as np
from pycocotools import mask as mask_utils


def encode_rle(mask: np.ndarray) -> dict[str, Any]:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def encode_window_rle(inside: np.ndarray, window: tuple[int, int, int, int], size: tuple[int, int]) -> dict[str, Any]:
    """encode_rle of a full-size mask that is `inside` within `window` (x1, y1, x2, y2) and empty elsewhere,
    without making the full-size array: COCO's column-major runs are counted over the window's columns only."""
    height, width = size
    x1, y1, x2, y2 = window
    columns = np.zeros((x2 - x1, height), dtype=bool)  # the window's columns, top to bottom (column-major order)
    columns[:, y1:y2] = inside.T
    flat = columns.reshape(-1)
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], edges, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs.insert(0, 0)  # COCO runs start with the zeros
    runs[0] += x1 * height  # the empty columns before the window
    after = (width - x2) * height  # the empty columns after it
    if flat[-1] and after:
        runs.append(after)
    elif not flat[-1]:
        runs[-1] += after
    rle = mask_utils.frPyObjects({"size": [height, width], "counts": runs}, height, width)
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


Window = tuple[int, int, int, int]  # x1, y1, x2, y2 in image pixels


def overlap(a: tuple[Window, np.ndarray], b: tuple[Window, np.ndarray],
            areas: tuple[int, int] | None = None) -> float:
    """Shared pixels over the smaller mask's pixels, for two masks each held inside its window (`areas`: the
    two masks' pixel counts, where the caller has them)."""
    (ax1, ay1, ax2, ay2), am = a
    (bx1, by1, bx2, by2), bm = b
    x1, y1, x2, y2 = max(ax1, bx1), max(ay1, by1), min(ax2, bx2), min(ay2, by2)
    if x2 <= x1 or y2 <= y1:
        return 0.0
    shared = np.logical_and(am[y1 - ay1:y2 - ay1, x1 - ax1:x2 - ax1], bm[y1 - by1:y2 - by1, x1 - bx1:x2 - bx1]).sum()
    a_area, b_area = areas or (int(am.sum()), int(bm.sum()))
    return float(shared) / max(min(a_area, b_area), 1)


def suppress_overlaps(masks: list[tuple[Window, np.ndarray]], scores: list[float], threshold: float) -> list[int]:
    """Class-agnostic suppression: the indices kept, best score first, dropping any mask whose overlap with a
    kept one (over the smaller of the two) reaches `threshold` (a "dress" and a "top" over the same pixels are
    one garment)."""
    kept: list[int] = []
    areas = [int(np.count_nonzero(m)) for _, m in masks]
    for i in sorted(range(len(masks)), key=lambda n: -scores[n]):
        if all(overlap(masks[i], masks[k], (areas[i], areas[k])) < threshold for k in kept):
            kept.append(i)
    return kept

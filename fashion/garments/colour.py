"""Dominant colour inside a garment's mask, named in the catalogue's own baseColour vocabulary.

How: up to MAX_PIXELS pixels of the mask (evenly spaced, deterministic) are converted to CIELAB and grouped by
k-means (k = CLUSTERS, fixed seed). Each cluster centre is named by the nearest table entry (Euclidean
distance in CIELAB, i.e. CIE76 delta E); clusters with the same name are merged. The answer is the name with
the largest share of the mask's pixels, the mean sRGB colour of those pixels as hex, and that share.

The table (colour_table.json, read on first use) lists every baseColour of the Fashion Product Images
catalogue with its sRGB value and a family (used to report near misses, e.g. Navy Blue for Blue). Colours
with enough product photos take the value measured on them (the median dominant colour of held-in photos);
the rest keep a hand-picked reference value. reports/colour.md shows the table and how well it agrees with
the catalogue's labels.
'Multi', 'Metallic', 'Grey Melange' and 'Steel' describe patterns, textures or materials rather than a
colour, so they are never answered here (the attribute classifier can still predict them for the whole image).
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fashion.threads import pool

MAX_PIXELS = 4096
CLUSTERS = 3
MIN_PIXELS = 16
NOT_A_COLOUR = frozenset({"Multi", "Metallic", "Grey Melange", "Steel"})

TABLE_PATH = Path(__file__).with_name("colour_table.json")


def load_table(path: Path = TABLE_PATH) -> dict[str, tuple[str, str]]:
    """name -> (sRGB hex, family) from colour_table.json (written by `python -m bench.colour_agreement --fit`)."""
    entries = json.loads(path.read_text())["colours"]
    return {name: (e["hex"], e["family"]) for name, e in entries.items()}


@functools.lru_cache(maxsize=1)
def table() -> dict[str, tuple[str, str]]:
    """The colour table, read once, when a colour is first named (nothing is read at import)."""
    return load_table()


def hex_to_rgb(value: str) -> tuple[int, int, int]:
    return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)


def rgb_to_hex(rgb: np.ndarray) -> str:
    r, g, b = (int(round(float(v))) for v in np.clip(rgb, 0, 255))
    return f"#{r:02X}{g:02X}{b:02X}"


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB uint8 (N, 3) -> CIELAB float32 (N, 3), L in [0, 100] (OpenCV, D65)."""
    return cv2.cvtColor(rgb.reshape(-1, 1, 3).astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB).reshape(-1, 3)


@functools.lru_cache(maxsize=1)
def palette() -> tuple[list[str], np.ndarray]:
    """The nameable colours (the table less NOT_A_COLOUR) and their CIELAB values."""
    names = [n for n in table() if n not in NOT_A_COLOUR]
    return names, to_lab(np.array([hex_to_rgb(table()[n][0]) for n in names], dtype=np.uint8))


def family(name: str | None) -> str | None:
    return table()[name][1] if name in table() else None


def nearest_index(lab: np.ndarray) -> np.ndarray:
    """Index into the palette's names of the table colour nearest to each CIELAB colour (CIE76)."""
    return ((lab[:, None, :] - palette()[1][None, :, :]) ** 2).sum(-1).argmin(axis=1)


def nearest_names(lab: np.ndarray) -> list[str]:
    names = palette()[0]
    return [names[i] for i in nearest_index(lab)]


def mask_pixels(image: np.ndarray, mask: np.ndarray, limit: int = MAX_PIXELS) -> np.ndarray:
    """Up to `limit` evenly spaced RGB pixels where mask is true: uint8 (N, 3)."""
    idx = np.flatnonzero(mask.reshape(-1))
    if idx.size > limit:
        idx = idx[np.linspace(0, idx.size - 1, limit).astype(np.int64)]
    return image.reshape(-1, 3)[idx]


def distinct(rgb: np.ndarray, most: int) -> int:
    """How many distinct colours the pixels (N, 3) hold, counted up to `most` (what k-means needs to know; a
    full np.unique sorts every pixel)."""
    codes = rgb.astype(np.uint32) @ np.array([65536, 256, 1], np.uint32)
    count = 0
    while codes.size and count < most:
        codes = codes[codes != codes[0]]
        count += 1
    return count


def clusters(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """k-means of RGB pixels (N, 3) in CIELAB: (centres (k, 3) in CIELAB, cluster index per pixel)."""
    lab = to_lab(rgb)
    k = distinct(rgb, CLUSTERS)
    if k < 2:
        return lab.mean(axis=0, keepdims=True), np.zeros(len(lab), dtype=np.int64)
    cv2.setRNGSeed(0)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    _, assignment, centres = cv2.kmeans(lab, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    return centres, assignment.reshape(-1).astype(np.int64)


def dominant_colour(image: np.ndarray, mask: np.ndarray) -> dict[str, Any] | None:
    """{"name", "hex", "share"} of the largest colour inside mask; None for masks under MIN_PIXELS pixels.

    image: RGB uint8 (H, W, 3); mask: bool (H, W) of the same size.
    """
    rgb = mask_pixels(image, mask)
    if len(rgb) < MIN_PIXELS:
        return None
    centres, assignment = clusters(rgb)
    per_pixel = nearest_index(centres)[assignment]
    names = palette()[0]
    counts = np.bincount(per_pixel, minlength=len(names))
    best = min(np.flatnonzero(counts == counts.max()), key=lambda i: names[i])  # a tie: the first name A-Z
    chosen = per_pixel == best
    return {"name": names[best], "hex": rgb_to_hex(rgb[chosen].mean(axis=0)),
            "share": round(float(chosen.mean()), 3)}


def dominant_colours(windows: list[tuple[np.ndarray, np.ndarray]], threads: int = 1) -> list[dict[str, Any] | None]:
    """dominant_colour for each (image window, mask of that window), spread over `threads` threads (OpenCV's
    k-means and most of numpy release the GIL). A garment's window (its box) and its mask there give the same
    answer as the whole image and its full-size mask: the same pixels, in the same order."""
    if threads <= 1 or len(windows) <= 1:
        return [dominant_colour(image, mask) for image, mask in windows]
    return list(pool(threads).map(lambda w: dominant_colour(*w), windows))

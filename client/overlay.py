"""A picture of an answer: each garment's mask tinted, its box, its label and score, and a swatch of its colour.

`python -m client overlay photo.jpg [--url URL | --response answer.json] [--out photo.overlay.png]`
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageColor, ImageDraw, ImageOps
from pycocotools import mask as mask_utils

BOX_COLOURS = ("#ff3b30", "#34c759", "#007aff", "#ff9500", "#af52de", "#00c7be", "#ffcc00", "#ff2d55")
ALPHA = 0.45  # how much of a mask's tint covers the photo


def _mask(garment: dict[str, Any], size: tuple[int, int]) -> np.ndarray | None:
    m = garment.get("mask")
    if isinstance(m, dict) and "counts" in m:
        return mask_utils.decode({"size": m["size"], "counts": m["counts"].encode()}).astype(bool)
    if isinstance(m, list) and m:  # polygons (mask_format "polygon"): [[x1, y1, x2, y2, ...], ...]
        canvas = Image.new("L", size, 0)
        for poly in m:
            ImageDraw.Draw(canvas).polygon([tuple(p) for p in np.asarray(poly).reshape(-1, 2)], fill=255)
        return np.asarray(canvas) > 0
    return None


def draw(photo: bytes, answer: dict[str, Any]) -> Image.Image:
    """The photo (EXIF orientation applied, as the service sees it) with the answer's garments drawn on it."""
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(photo))).convert("RGB")
    pixels = np.asarray(image, dtype=np.float32).copy()
    garments = answer.get("garments") or []
    for i, g in enumerate(garments):
        mask = _mask(g, image.size)
        if mask is not None and mask.shape == pixels.shape[:2]:
            tint = np.array(ImageColor.getrgb(BOX_COLOURS[i % len(BOX_COLOURS)]), dtype=np.float32)
            pixels[mask] = (1 - ALPHA) * pixels[mask] + ALPHA * tint
    out = Image.fromarray(pixels.round().clip(0, 255).astype(np.uint8))
    pen = ImageDraw.Draw(out)
    for i, g in enumerate(garments):
        x1, y1, x2, y2 = g["box"]
        edge = BOX_COLOURS[i % len(BOX_COLOURS)]
        pen.rectangle((x1, y1, x2, y2), outline=edge, width=max(2, round(min(image.size) / 250)))
        colour = g.get("colour") or {}
        text = f"{g['label']} {g['score']:.2f}" + (f" {colour['name']}" if colour.get("name") else "")
        name = (g.get("metadata") or {}).get("productDisplayName")
        if name:  # the garment's own metadata, from its crop
            text += f" - {name}"
        left, top, right, bottom = pen.textbbox((x1 + 3, y1 + 2), text)
        pen.rectangle((left - 2, top - 1, right + 2, bottom + 1), fill=edge)
        pen.text((x1 + 3, y1 + 2), text, fill="white")
        if colour.get("hex"):  # the garment's measured colour, as a swatch after its name
            side = bottom - top + 2
            pen.rectangle((right + 3, top - 1, right + 3 + side, top - 1 + side), fill=colour["hex"], outline="white")
    return out


def overlay(photo: Path, out: Path, url: str | None = None, response: Path | None = None,
            timeout: float = 120) -> Path:
    """Ask the endpoint (or read a saved answer) and write the picture as PNG."""
    data = photo.read_bytes()
    if response is not None:
        answer = json.loads(response.read_text())
    else:
        import httpx

        r = httpx.post(url, content=data, headers={"Content-Type": "application/octet-stream"}, timeout=timeout)
        answer = r.json()
        if r.status_code != 200:
            raise SystemExit(f"{url} answered {r.status_code}: {json.dumps(answer)[:300]}")
    answer = answer["predictions"][0] if "predictions" in answer else answer
    draw(data, answer).save(out, format="PNG")
    return out

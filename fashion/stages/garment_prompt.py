"""Garment by words (option "prompt": "red dress"): each garment scored against the prompt by the embedder's
text tower, the best one "selected" when it clears the calibrated threshold, none when nothing matches.

A garment's score blends two cosine similarities to the prompt's text embedding: its crop's image embedding
(what it looks like: "red", "floral") and the text embedding of its segmenter label (what it is: "dress" is near
"gown"), as (crop + LABEL_WEIGHT * label) / (1 + LABEL_WEIGHT), so a score stays in [-1, 1]. On labelled street
photos the crop alone selected poorly (mean IoU 0.15 with the labelled region), the blend better (0.34;
reports/garment_prompt.md); LABEL_WEIGHT had the best calibration-split figure of those tried (0.5, 1, 2).
The threshold is in garment_prompt.json beside this module, written by `python -m training calibrate-prompt`
for the models it names, and read once, when first needed.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np

CALIBRATION = Path(__file__).with_name("garment_prompt.json")
LABEL_WEIGHT = 2.0


@functools.lru_cache(maxsize=1)
def calibration() -> dict[str, Any]:
    return json.loads(CALIBRATION.read_text())


def threshold() -> float:
    return float(calibration()["threshold"])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def rank(text: np.ndarray, crops: np.ndarray, labels: np.ndarray,
         cut: float | None = None) -> tuple[list[float], int | None]:
    """Each garment's score (crops: its image embeddings, labels: its label's text embeddings) and the selected
    garment, or None when the best score is under the threshold."""
    if not len(crops):
        return [], None
    t = _unit(text)
    scores = (_unit(crops) @ t + LABEL_WEIGHT * (_unit(labels) @ t)) / (1 + LABEL_WEIGHT)
    best = int(np.argmax(scores))
    cut = threshold() if cut is None else cut
    return [round(float(s), 4) for s in scores], best if scores[best] >= cut else None

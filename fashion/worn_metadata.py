"""Metadata that fits the photo: a product shot gets its heads' answer; a photo of a person wearing clothes gets
the person's gender and the main garment's articleType, colour, season and usage (never a product-shot head
reading a street scene), and each garment its own metadata from its masked crop.

A field whose calibrated confidence is too low is `{"label": null, "score": s, "reason": "..."}`: "don't know"
instead of a confident wrong answer. The thresholds are fashion/worn_calibration.json, chosen on the worn split's
`calib` photos by `python -m bench.worn --calibrate` (never on its `val` photos, which report them).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from fashion.metadata import display_name

CALIBRATION_FILE = Path(__file__).with_name("worn_calibration.json")
SCENE = "scene"  # the head that tells a product shot from a worn photo
WORN, PRODUCT = "worn", "product"
GARMENT_FIELDS = ("gender", "articleType", "baseColour", "season", "usage")  # a worn photo's from its garments


@dataclasses.dataclass(frozen=True)
class Calibration:
    """When a worn photo's or garment's field is answered (fashion/worn_calibration.json)."""
    men_share: float = 0.5  # P(Men) / (P(Men) + P(Women)) at or above it: "Men"
    women_share: float = 0.5  # at or below it: "Women"; in between: null
    garment_men_share: float = 0.5  # the same for a garment's gender
    garment_women_share: float = 0.5
    garment_gender_from: str = "crop"  # crop: the garment's own crop; photo: its wearer's (the whole photo's)
    article_score: float = 0.0  # a garment's articleType below it: null
    calibrated_on: str = "not calibrated"

    @classmethod
    def load(cls, path: Path = CALIBRATION_FILE) -> "Calibration":
        if not path.is_file():
            return cls()
        data = json.loads(path.read_text())
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})


def unknown(score: float, reason: str) -> dict[str, Any]:
    return {"label": None, "score": round(float(score), 4), "reason": reason}


def scored(probs: np.ndarray, vocab: list[str]) -> dict[str, Any]:
    i = int(np.argmax(probs))
    return {"label": vocab[i], "score": round(float(probs[i]), 4)}


def men_share(probs: np.ndarray, vocab: list[str]) -> float:
    """P(Men) among Men and Women (street photos show adults: the rest of the vocabulary is left out)."""
    men, women = float(probs[vocab.index("Men")]), float(probs[vocab.index("Women")])
    return men / max(men + women, 1e-12)


def worn_gender(probs: np.ndarray, vocab: list[str], men_at: float, women_at: float, what: str) -> dict[str, Any]:
    """The person's gender from the share of Men: Men at or above `men_at`, Women at or below `women_at`."""
    if "Men" not in vocab or "Women" not in vocab:
        return scored(probs, vocab)
    share = men_share(probs, vocab)
    if share >= men_at:
        return {"label": "Men", "score": round(share, 4)}
    if share <= women_at:
        return {"label": "Women", "score": round(1 - share, 4)}
    return unknown(max(share, 1 - share), f"uncertain: the {what}'s P(Men) among Men and Women is {share:.2f}, "
                                          f"between the calibrated {women_at:.2f} and {men_at:.2f}")


def with_derived(fields: dict[str, Any], mapping: dict[str, dict[str, str]]) -> dict[str, Any]:
    """masterCategory / subCategory from the articleType (null when it is), and the display name."""
    article = (fields.get("articleType") or {}).get("label")
    derived = mapping.get(article, {}) if article else {}
    return {**fields, "masterCategory": derived.get("masterCategory"), "subCategory": derived.get("subCategory"),
            "productDisplayName": display_name(fields)}


def garment_metadata(probs: dict[str, np.ndarray], photo: dict[str, np.ndarray], heads: dict[str, list[str]],
                     mapping: dict[str, dict[str, str]], source: str, cal: Calibration) -> dict[str, Any]:
    """One worn garment's metadata from its crop's probabilities (`photo`: its whole photo's, for its wearer)."""
    fields = {h: scored(p, heads[h]) for h, p in probs.items() if h != SCENE}
    if "gender" in fields:
        gender_probs = photo["gender"] if cal.garment_gender_from == "photo" else probs["gender"]
        fields["gender"] = worn_gender(gender_probs, heads["gender"], cal.garment_men_share, cal.garment_women_share,
                                       "photo" if cal.garment_gender_from == "photo" else "garment")
    article = fields.get("articleType")
    if article is not None and article["score"] < cal.article_score:
        fields["articleType"] = unknown(article["score"], f"uncertain: articleType {article['label']} scores "
                                                          f"{article['score']:.2f}, below the calibrated "
                                                          f"{cal.article_score:.2f}")
    return {**with_derived(fields, mapping), "source": source}


def main_garment(garments: list[dict[str, Any]], areas: list[int]) -> int | None:
    """The largest garment whose articleType is known: the one a worn photo's articleType names."""
    known = [n for n, g in enumerate(garments) if (g.get("articleType") or {}).get("label") is not None]
    return max(known, key=lambda n: areas[n]) if known else None


def photo_metadata(probs: dict[str, np.ndarray], heads: dict[str, list[str]], mapping: dict[str, dict[str, str]],
                   source: str, garments: list[dict[str, Any]] | None, areas: list[int],
                   cal: Calibration) -> dict[str, Any]:
    """The photo's metadata: its heads' answer for a product shot; for a worn photo the person's gender and the
    main garment's fields (`garments`: their metadata; None when the segmenter did not run)."""
    fields = {h: scored(p, heads[h]) for h, p in probs.items() if h != SCENE}
    scene = scored(probs[SCENE], heads[SCENE]) if SCENE in probs else None
    if scene is None or scene["label"] != WORN:
        out = {**with_derived(fields, mapping), "source": source}
        return out if scene is None else {**out, SCENE: scene}
    main = main_garment(garments, areas) if garments else None
    if main is None:
        why = ("garments were not segmented" if garments is None else
               "no garment found" if not garments else "no garment's articleType is certain enough")
        worn = {h: unknown(0.0, f"a photo of a person: {why}") for h in GARMENT_FIELDS if h != "gender"}
    else:
        worn = {h: garments[main][h] for h in GARMENT_FIELDS if h != "gender" and h in garments[main]}
    if "gender" in probs:
        worn["gender"] = worn_gender(probs["gender"], heads["gender"], cal.men_share, cal.women_share, "photo")
    ordered = {h: worn.get(h, fields.get(h)) for h in fields}
    return {**with_derived(ordered, mapping), "source": source, SCENE: scene, "garment": main}

"""The wearer's gender from what they wear, beside what the photo looks like.

The attribute model's trunk separates men from women poorly on street photos (reports/worn.md); what a person
wears says more: a skirt, a dress, heels or a purse mostly mean a woman, a shirt with jeans and sneakers lean to a
man. The outfit model is a logistic regression over which of the segmenter's garment groups a photo has (each 0 or
1), fitted on the worn split's `train` photos as served (`python -m training worn-gender`, this
package's worn_gender.json). A worn photo's P(Men) is then

    sigmoid(outfit logit + photo_weight * logit(the photo head's P(Men) among Men and Women)
            + face_weight * logit(the face's P(male)))

the face term only where a face was found (fashion/worn/face_gender.py; never where FASHION_FACE_GENDER=off), with
`photo_weight`, `face_weight` and the threshold chosen on the `calib` photos (fashion/worn/worn_calibration.json).
"""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np

from fashion.worn.worn_metadata import Calibration, adult, is_worn, men_share

OUTFIT_FILE = Path(__file__).with_name("worn_gender.json")


def logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def presence(groups: tuple[str, ...], worn: list[str]) -> np.ndarray:
    """1 for each of `groups` among `worn` (a photo's garments' groups), else 0."""
    present = set(worn)
    return np.array([g in present for g in groups], dtype=np.float64)


@dataclasses.dataclass(frozen=True)
class OutfitGender:
    """P(Men) logit from the segmenter groups of a photo's garments."""
    groups: tuple[str, ...]
    coef: tuple[float, ...]  # one per group
    intercept: float

    def logit(self, worn: list[str]) -> float:
        return float(presence(self.groups, worn) @ np.asarray(self.coef)) + self.intercept

    def share(self, worn: list[str], photo_share: float, photo_weight: float, face_share: float | None = None,
              face_weight: float = 0.0) -> float:
        """The wearer's P(Men): the outfit's logit plus `photo_weight` times the photo's, plus `face_weight` times
        the face's where one was found."""
        face = 0.0 if face_share is None else face_weight * logit(face_share)
        return sigmoid(self.logit(worn) + photo_weight * logit(photo_share) + face)

    def to_dict(self) -> dict:
        return {"groups": list(self.groups), "coef": list(self.coef), "intercept": self.intercept}

    @classmethod
    def from_dict(cls, data: dict) -> "OutfitGender":
        groups = tuple(data["groups"])
        if len(data["coef"]) != len(groups):
            raise ValueError(f"{OUTFIT_FILE.name}: {len(data['coef'])} coefficients for {len(groups)} groups")
        return cls(groups, tuple(float(c) for c in data["coef"]), float(data["intercept"]))


def load(path: Path = OUTFIT_FILE) -> OutfitGender | None:
    """The fitted outfit model, or None when there is none (the photo head alone answers)."""
    if not path.is_file():
        return None
    return OutfitGender.from_dict(json.loads(path.read_text())["model"])


def wearer(outfit: OutfitGender | None, cal: Calibration, photo: dict[str, np.ndarray], heads: dict[str, list[str]],
           groups: list[str] | None, face: float | None = None) -> float | None:
    """A worn photo's P(Men) from its garments' groups and its photo's probabilities, when the calibration says
    so; None (the photo head alone answers) for a product shot, without garments or without the model."""
    if (outfit is None or cal.photo_gender_from != "outfit" or groups is None or "gender" not in photo
            or not adult(heads.get("gender", [])) or not is_worn(photo, heads)):
        return None
    return outfit.share(groups, men_share(photo["gender"], heads["gender"]), cal.outfit_photo_weight, face,
                        cal.face_weight)

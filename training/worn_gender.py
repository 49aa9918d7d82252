"""`python -m training worn-gender`: fit the outfit gender model (fashion/worn/worn_gender.py) on the worn split's
`train` photos as served.

The export folder's pipeline (in process, uncalibrated) answers each `train` street photo; which segmenter groups
its garments are become the features, the person's gender (reports/street_gender.csv, certain rows only)
the target. A logistic regression with each gender weighing the same (scikit-learn, L2, C fixed). Seconds after
the photos are answered (about a minute on 2 cores). The `calib` photos then choose how much the photo's own
head adds and the threshold (`python -m bench.worn --calibrate`); `val` reports it.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fashion.worn.worn_gender import OutfitGender, presence

log = logging.getLogger("training")
STREET = Path("../shared/data/street_photos")
C = 0.3  # L2 strength of the logistic regression (inverse), fixed (not tuned on calib or val)


def served_outfits(export: Path, part: str = "train", street: Path = STREET,
                   limit: int | None = None) -> tuple[list[list[str]], list[str]]:
    """Per photo of the part whose person's gender is certain: its served garments' groups, and the gender."""
    from fashion.pipeline import Pipeline
    from fashion.worn.worn_metadata import Calibration
    from training.worn import read_gender, worn_split

    pipe = Pipeline.load(export, torch.device("cpu"))
    pipe["attributes"].calibration = Calibration()
    people, split = read_gender(), worn_split()
    stems = [s for s in sorted(split) if split[s] == part and not people[s][1]][:limit]
    outfits, genders = [], []
    for n, stem in enumerate(stems, 1):
        payload, status = pipe([{"body": (street / "photos" / f"{stem}.jpg").read_bytes()}])[0]
        if status != 200:
            raise RuntimeError(f"{stem}: the pipeline answered {status}: {payload}")
        outfits.append([g["label"] for g in payload.get("garments", [])])
        genders.append(people[stem][0])
        if n % 100 == 0:
            log.info("%d / %d photos answered", n, len(stems))
    return outfits, genders


def fit(outfits: list[list[str]], genders: list[str], groups: list[str]) -> tuple[OutfitGender, dict[str, Any]]:
    """The outfit model and its training figures."""
    from sklearn.linear_model import LogisticRegression

    x = np.stack([presence(tuple(groups), o) for o in outfits])
    y = np.array([g == "Men" for g in genders])
    if y.all() or not y.any():
        raise ValueError(f"the outfit model needs men and women among the photos ({int(y.sum())} men of {len(y)})")
    lr = LogisticRegression(C=C, class_weight="balanced", max_iter=5000).fit(x, y)
    model = OutfitGender(tuple(groups), tuple(round(float(c), 6) for c in lr.coef_[0]),
                         round(float(lr.intercept_[0]), 6))
    said = lr.predict(x)
    figures = {"photos": int(len(y)), "men": int(y.sum()), "women": int((~y).sum()),
               "train_balanced_accuracy": round(float(np.mean([np.mean(said[y]), np.mean(~said[~y])])), 4)}
    return model, figures


def run(export: Path, out: Path, limit: int | None = None) -> dict[str, Any]:
    from fashion.garments import garment_groups
    from fashion.manifest import Manifest

    manifest = Manifest.load(export / "attributes.json")
    outfits, genders = served_outfits(export, limit=limit)
    model, figures = fit(outfits, genders, list(garment_groups.load().groups))
    strongest = sorted(zip(model.groups, model.coef), key=lambda t: t[1])
    result = {"model": model.to_dict(),
              "fitted_on": {"part": "train", "attributes_weights": manifest.weights.get("source"),
                            "attributes_sha256": manifest.weights.get("sha256"), "C": C, **figures},
              "leans_women": [n for n, c in strongest if c < 0], "leans_men": [n for n, c in strongest[::-1] if c > 0],
              "command": f"python -m training worn-gender --export {export} --out {out}"}
    out.write_text(json.dumps(result, indent=1) + "\n")
    return result

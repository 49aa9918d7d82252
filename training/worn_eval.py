"""Worn figures of an attribute model on the labelled street photos (the worn split's `val` part, never trained or
calibrated on), beside its product figures on the product test split: what training/worn_train.py is judged by.

On labelled garments (their masked crops cut as served from the label maps, not the segmenter's detections; the
served figures are reports/worn.md's): articleType family right (the top articleType is one of the family's),
the person's gender; on whole photos: the person's gender, scene. Gender figures count the rows whose label is
certain (reports/street_gender.csv) and give each gender's recall.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from training.labels import IGNORE
from training.worn import SCENES


def _gender(pred: np.ndarray, true: list[str], names: list[str]) -> dict[str, Any]:
    said = [names[i] for i in pred]
    out: dict[str, Any] = {"rows": len(true), "accuracy": round(float(np.mean([s == t for s, t in zip(said, true)])), 4)
                           if true else None}
    for g in ("Women", "Men"):
        mine = [s for s, t in zip(said, true) if t == g]
        out[f"recall_{g}"] = round(float(np.mean([s == g for s in mine])), 4) if mine else None
    return out


def worn_figures(logits: list[torch.Tensor], heads: dict[str, list[str]], kinds: list[str], genders: list[str],
                 uncertain: list[bool], families: torch.Tensor) -> dict[str, Any]:
    """Figures from one model's logits on worn rows (in order: photo rows and garment rows mixed)."""
    names = list(heads)
    gender = logits[names.index("gender")].argmax(1).numpy()
    article = logits[names.index("articleType")].argmax(1)
    photo = np.array([k == "photo" for k in kinds])
    certain = ~np.array(uncertain)
    out: dict[str, Any] = {
        "photo_gender": _gender(gender[photo & certain], [g for g, p, c in zip(genders, photo, certain) if p and c],
                                heads["gender"]),
        "photo_gender_all_rows": _gender(gender[photo], [g for g, p in zip(genders, photo) if p], heads["gender"]),
        "garment_gender": _gender(gender[~photo & certain],
                                  [g for g, p, c in zip(genders, photo, certain) if not p and c], heads["gender"]),
    }
    garments = torch.from_numpy(np.flatnonzero(~photo))
    right = families[garments, article[garments]].numpy()
    out["garment_family"] = {"rows": int(len(garments)),
                             "accuracy": round(float(right.mean()), 4) if len(right) else None}
    per_class: dict[str, list[bool]] = {}
    for i, ok in zip(garments.tolist(), right):
        per_class.setdefault(kinds[i], []).append(bool(ok))
    out["garment_family_by_class"] = {k: {"rows": len(v), "accuracy": round(float(np.mean(v)), 4)}
                                      for k, v in sorted(per_class.items(), key=lambda kv: -len(kv[1]))}
    if "scene" in heads:
        scene = logits[names.index("scene")].argmax(1).numpy()
        out["scene_worn_photos"] = round(float(np.mean(scene[photo] == SCENES.index("worn"))), 4)
    return out


def product_figures(logits: list[torch.Tensor], heads: dict[str, list[str]], targets: torch.Tensor) -> dict[str, Any]:
    """Accuracy per head on product rows (targets in the heads' order), and scene when the model has it."""
    names = list(heads)
    out: dict[str, Any] = {}
    for head in (h for h in names if h != "scene"):
        t = targets[:, names.index(head)]
        keep = t != IGNORE
        out[head] = round(float((logits[names.index(head)].argmax(1)[keep] == t[keep]).float().mean()), 4)
    if "scene" in heads:
        out["scene"] = round(float((logits[names.index("scene")].argmax(1) == SCENES.index("product")).float().mean()),
                             4)
    return out


def garment_to_products(garments: np.ndarray, families: np.ndarray, products: np.ndarray,
                        product_articles: list[str], vocabulary: list[str], k: int = 10) -> dict[str, Any]:
    """Worn garment -> products P@k: the share of each garment's k nearest catalogue products (cosine) whose
    articleType is in the garment's family, averaged over garments; chance is the family's share of the catalogue."""
    column = {a: i for i, a in enumerate(vocabulary)}
    article = np.array([column.get(a, -1) for a in product_articles])
    top = np.argsort(-(garments @ products.T), axis=1)[:, :k]
    hit = np.array([[a >= 0 and families[g, a] for a in article[row]] for g, row in enumerate(top)])
    share = np.array([np.mean([a >= 0 and families[g, a] for a in article]) for g in range(len(garments))])
    return {"garments": int(len(garments)), "products": int(len(products)), f"P@{k}": round(float(hit.mean()), 4),
            "chance": round(float(share.mean()), 4)}

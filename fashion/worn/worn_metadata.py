"""Metadata that fits the photo: a product shot gets its heads' answer; a photo of a person wearing clothes gets
the person's gender and the main garment's articleType, colour, season and usage (never a product-shot head
reading a street scene), and each garment its own metadata from its masked crop.

A field whose calibrated confidence is too low is `{"label": null, "score": s, "reason": "..."}`: "don't know"
instead of a confident wrong answer. The thresholds are fashion/worn/worn_calibration.json, chosen on the worn split's
`calib` photos by `python -m bench.worn --calibrate` (never on its `val` photos, which report them).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from fashion.worn import article_prior
from fashion.garments.metadata import SUB_CATEGORY, derive

CALIBRATION_FILE = Path(__file__).with_name("worn_calibration.json")
SCENE = "scene"  # the head that tells a product shot from a worn photo
WORN, PRODUCT = "worn", "product"
GARMENT_FIELDS = ("gender", "articleType", "baseColour", "season", "usage")  # a worn photo's from its garments


@dataclasses.dataclass(frozen=True)
class Calibration:
    """When a worn photo's or garment's field is answered (fashion/worn/worn_calibration.json)."""
    men_share: float = 0.5  # P(Men) / (P(Men) + P(Women)) at or above it: "Men"
    women_share: float = 0.5  # at or below it: "Women"; in between: null
    garment_men_share: float = 0.5  # the same for a garment's gender
    garment_women_share: float = 0.5
    garment_gender_from: str = "crop"  # crop: its own crop's P(Men); photo: its whole photo's; mean: of the two
    photo_gender_from: str = "photo"  # photo: the whole photo's P(Men); mean: of the photo's and its garments' crops;
    # outfit: the outfit model's (fashion/worn/worn_gender.py) with the photo's logit at outfit_photo_weight
    outfit_photo_weight: float = 0.5
    face_weight: float = 0.0  # the face's logit in the wearer's gender, where a face was found (worn/face_gender.py)
    article_score: float = 0.0  # a garment's articleType below it: null
    article_within_group: bool = True  # a garment's articleType: the likeliest of its segmenter group's family
    main_garment: str = "largest"  # which known garment names a worn photo: largest (mask area) | surest (score)
    photo_article_score: float = 0.0  # the main garment's articleType below it: the worn photo's is null
    calibrated_on: str = "not calibrated"

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {
        "garment_gender_from": ("crop", "photo", "mean"), "photo_gender_from": ("photo", "mean", "outfit"),
        "main_garment": ("largest", "surest")}

    def __post_init__(self) -> None:
        """A misspelt switch refuses to load instead of silently answering by another rule."""
        for name, allowed in self.CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"worn calibration: {name} must be one of {allowed}, got {getattr(self, name)!r}")

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


def adult(vocab: list[str]) -> bool:
    return "Men" in vocab and "Women" in vocab


def worn_gender(share: float, men_at: float, women_at: float, what: str) -> dict[str, Any]:
    """The person's gender from P(Men) among Men and Women: Men at or above `men_at`, Women at or below
    `women_at`, null in between."""
    if share >= men_at:
        return {"label": "Men", "score": round(share, 4)}
    if share <= women_at:
        return {"label": "Women", "score": round(1 - share, 4)}
    return unknown(max(share, 1 - share), f"uncertain: the {what}'s P(Men) among Men and Women is {share:.2f}, "
                                          f"between the calibrated {women_at:.2f} and {men_at:.2f}")


def is_worn(probs: dict[str, np.ndarray], heads: dict[str, list[str]]) -> bool:
    """Whether the scene head calls the photo worn."""
    return SCENE in probs and scored(probs[SCENE], heads[SCENE])["label"] == WORN


def scored_within(probs: np.ndarray, vocab: list[str], members: tuple[int, ...]) -> dict[str, Any]:
    """The most probable of `members`, with its own probability (not renormalised over them: the score stays the
    model's confidence in that answer, which the calibrated threshold reads)."""
    i = max(members, key=lambda m: float(probs[m]))
    return {"label": vocab[i], "score": round(float(probs[i]), 4)}


def garment_metadata(probs: dict[str, np.ndarray], photo: dict[str, np.ndarray], heads: dict[str, list[str]],
                     mapping: dict[str, dict[str, str]], source: str, cal: Calibration,
                     family: tuple[int, ...] | None = None, wearer: float | None = None,
                     measured: str | None = None) -> dict[str, Any]:
    """One garment's metadata from its crop's probabilities (`photo`: its whole photo's, for its wearer;
    `family`: the articleTypes its segmenter group may be, fashion/worn/worn_families.yaml, as vocabulary indices;
    `wearer`: the wearer's P(Men) when known apart from the photo's, fashion/worn/worn_gender.py; `measured`: the
    colour name measured inside its mask, fashion/garments/colour.py).

    The answers agree with each other: the gender is decided first, and the articleType is the likeliest of the
    family that the catalogue has for that gender (fashion/worn/article_prior.py: never a "Men" Heels; a garment of a
    kind the catalogue has none of for that gender, a dress on a wearer read as a man, keeps its kind and says
    its gender is uncertain); the baseColour is the likeliest of the measured colour's family (the pixels decide
    the family, the head the shade)."""
    fields = {h: scored(p, heads[h]) for h, p in probs.items() if h != SCENE}
    if "gender" in fields and adult(heads["gender"]):
        own = men_share(probs["gender"], heads["gender"])
        wearer = men_share(photo["gender"], heads["gender"]) if wearer is None else wearer
        share = {"crop": own, "photo": wearer}.get(cal.garment_gender_from, (own + wearer) / 2)
        fields["gender"] = worn_gender(share, cal.garment_men_share, cal.garment_women_share,
                                       {"crop": "garment", "photo": "photo"}.get(cal.garment_gender_from,
                                                                                 "garment and its photo"))
    if "articleType" in probs:
        family = family if cal.article_within_group else None
        gender = (fields.get("gender") or {}).get("label")
        if gender is not None and not _fitting(heads["articleType"], family, gender):
            fields["gender"] = unknown(fields["gender"]["score"], f"uncertain: the wearer reads {gender}, but no "
                                                                  f"articleType of this garment's kind is worn by "
                                                                  f"{gender} in the catalogue")
            gender = None
        fields["articleType"] = _article(probs["articleType"], heads["articleType"], cal, family, gender)
    if "baseColour" in probs and measured is not None:
        fields["baseColour"] = _colour(probs["baseColour"], heads["baseColour"], measured)
    return {**derive(fields, mapping), "source": source}


def _fitting(vocab: list[str], family: tuple[int, ...] | None, gender: str | None) -> tuple[int, ...]:
    """The family's members (all the vocabulary without one) the catalogue has for `gender`."""
    members = tuple(family) if family else tuple(range(len(vocab)))
    return tuple(m for m in members if article_prior.allowed(gender, vocab[m]))


def _article(probs: np.ndarray, vocab: list[str], cal: Calibration, family: tuple[int, ...] | None,
             gender: str | None) -> dict[str, Any]:
    """The likeliest articleType of the family (all of them without one) that the catalogue has for `gender`;
    null when its score is under the calibrated article_score."""
    article = scored_within(probs, vocab, _fitting(vocab, family, gender))
    if article["score"] < cal.article_score:
        return unknown(article["score"], f"uncertain: articleType {article['label']} scores {article['score']:.2f}, "
                                         f"below the calibrated {cal.article_score:.2f}")
    return article


def _colour(probs: np.ndarray, vocab: list[str], measured: str) -> dict[str, Any]:
    """The head's likeliest baseColour within the measured colour's family (fashion/garments/colour.py's table); the
    head's own answer when no colour of its vocabulary is in that family."""
    from fashion.garments import colour

    family = colour.family(measured)
    members = tuple(i for i, name in enumerate(vocab) if family is not None and colour.family(name) == family)
    return scored_within(probs, vocab, members) if members else scored(probs, vocab)


def joint_gender_article(probs: dict[str, np.ndarray], heads: dict[str, list[str]]) -> tuple[dict, dict]:
    """A product's gender and articleType decided together: the likeliest pair (the product of the two heads'
    probabilities) the catalogue has (fashion/worn/article_prior.py), each scored by its own head."""
    genders, articles = heads["gender"], heads["articleType"]
    joint = np.outer(probs["gender"], probs["articleType"]) * article_prior.allowed_pairs(tuple(genders),
                                                                                           tuple(articles))
    if not joint.any():
        return scored(probs["gender"], genders), scored(probs["articleType"], articles)
    i, j = np.unravel_index(int(np.argmax(joint)), joint.shape)
    return ({"label": genders[i], "score": round(float(probs["gender"][i]), 4)},
            {"label": articles[j], "score": round(float(probs["articleType"][j]), 4)})


def main_garment(garments: list[dict[str, Any]], areas: list[int], rule: str = "largest") -> int | None:
    """The garment a worn photo's articleType names: of those whose articleType is known, the largest (mask area)
    or the surest (articleType score)."""
    known = [n for n, g in enumerate(garments) if (g.get("articleType") or {}).get("label") is not None]
    if not known:
        return None
    return max(known, key=(lambda n: garments[n]["articleType"]["score"]) if rule == "surest" else areas.__getitem__)


def photo_metadata(probs: dict[str, np.ndarray], heads: dict[str, list[str]], mapping: dict[str, dict[str, str]],
                   source: str, garments: list[dict[str, Any]] | None, areas: list[int],
                   cal: Calibration, garment_probs: list[dict[str, np.ndarray]] = (),
                   wearer: float | None = None) -> dict[str, Any]:
    """The photo's metadata: its heads' answer for a product shot; for a worn photo the person's gender and the
    main garment's fields (`garments`: their metadata, None when the segmenter did not run; `garment_probs`:
    their crops' probabilities; `wearer`: the wearer's P(Men) from the outfit model, when it answers)."""
    fields = {h: scored(p, heads[h]) for h, p in probs.items() if h != SCENE}
    scene = scored(probs[SCENE], heads[SCENE]) if SCENE in probs else None
    if scene is None or scene["label"] != WORN:
        if "gender" in probs and "articleType" in probs:
            fields["gender"], fields["articleType"] = joint_gender_article(probs, heads)
        out = {**derive(fields, mapping), "source": source}
        return out if scene is None else {**out, SCENE: scene}
    main = main_garment(garments, areas, cal.main_garment) if garments else None
    if main is None:
        why = ("garments were not segmented" if garments is None else
               "no garment found" if not garments else "no garment's articleType is certain enough")
        worn = {h: unknown(0.0, f"a photo of a person: {why}") for h in GARMENT_FIELDS if h != "gender"}
    else:
        worn = {h: garments[main][h] for h in GARMENT_FIELDS if h != "gender" and h in garments[main]}
        if SUB_CATEGORY in fields:  # the main garment's (derive reads it where its articleType is 'Other')
            worn[SUB_CATEGORY] = {"label": garments[main].get(SUB_CATEGORY)}
        article = worn.get("articleType")
        if article is not None and article["score"] < cal.photo_article_score:
            worn["articleType"] = unknown(article["score"], f"uncertain: the main garment's articleType "
                                                            f"{article['label']} scores {article['score']:.2f}, below "
                                                            f"the calibrated {cal.photo_article_score:.2f} for a photo")
    if "gender" in probs and adult(heads["gender"]) and wearer is not None:
        worn["gender"] = worn_gender(wearer, cal.men_share, cal.women_share, "photo and its outfit")
    elif "gender" in probs and adult(heads["gender"]):
        shares = [men_share(probs["gender"], heads["gender"])]
        if cal.photo_gender_from == "mean":
            shares += [men_share(p["gender"], heads["gender"]) for p in garment_probs]
        worn["gender"] = worn_gender(float(np.mean(shares)), cal.men_share, cal.women_share,
                                     "photo" if len(shares) == 1 else "photo and its garments")
    ordered = {h: worn.get(h, fields.get(h)) for h in fields}
    return {**derive(ordered, mapping), "source": source, SCENE: scene, "garment": main}

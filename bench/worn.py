"""python -m bench.worn: what a user reads on photos of people and on product shots, measured on the served
pipeline (the export folder's models, in process, default options), from its responses only.

On the worn split's street photos (`--part val`: never trained or calibrated on; `calib`: where the thresholds
are chosen, `--calibrate`): the photo's gender (the person's, reports/street_gender.csv), the photo's articleType
(one of the worn garments' families, or null), each detected garment's own articleType family and gender (a
detection is the labelled garment whose mask it overlaps best, IoU >= MATCH_IOU), worn garment -> products P@10
over the whole catalogue, scene, and how many labelled garments get two detections. On the product test split
(reports/attributes_split.csv): gender, articleType, scene. Writes JSON (`--out`); `--markdown` renders
reports/worn.md from a before and an after JSON.

Reads only a response's fields, so the same script measures the code before the worn work (run it from a
checkout of that commit with its own export).
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
STREET = ROOT / "../shared/data/street_photos"
PRODUCTS = ROOT / "../shared/data/fashion_products"
MATCH_IOU = 0.5
NULL_CAP = 0.30  # the most a calibrated field may be null (issue 22)
RECALL_FLOOR = 0.75  # each gender's recall a gender threshold keeps on calib (the target's 0.70, plus a margin)
OUTFIT_PHOTO_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0)  # how much the photo's own gender logit adds to the outfit's
PRODUCT_FIELDS = ("gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "usage")
CATEGORIES = ("masterCategory", "subCategory")  # plain strings in a response (derived from the articleType)
FACE_WEIGHTS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)  # and the face's, where one is found (fashion/worn/face_gender.py)


def _mask(rle: dict[str, Any]) -> np.ndarray:
    from pycocotools import mask as mask_utils

    return mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode("ascii")}).astype(bool)


def respond(pipe, photo: bytes) -> dict[str, Any]:
    payload, status = pipe([{"body": photo}])[0]
    if status != 200:
        raise RuntimeError(f"the pipeline answered {status}: {payload}")
    return payload


def label(field: Any) -> str | None:
    return field.get("label") if isinstance(field, dict) else None


def face_share(photo: bytes, response: dict[str, Any]) -> float | None:
    """The face's P(male) as the served segmenter stage computes it (never in a response): the same region from
    the response's garments, the same decoded pixels; None where no face is found or the step is off."""
    from fashion.worn import face_gender
    from fashion.request.decode import decode_image

    faces = face_gender.load()
    if faces is None:
        return None
    image = decode_image(photo)
    region = face_gender.face_region(((g["label"], tuple(g["box"])) for g in response.get("garments", [])),
                                     image.size)
    return faces.men_share(np.asarray(image.convert("RGB")), region)


def worn_rows(pipe, part: str) -> list[dict[str, Any]]:
    """One row per street photo of the part: its response's photo fields and its garments, matched, and the face's
    P(male) (face_share, for calibration)."""
    from fashion.worn.worn_families import load as load_families
    from training.worn import labelled_garments, read_gender, worn_split

    families, names = load_families(), json.loads((STREET / "label_list.json").read_text())
    people, split = read_gender(ROOT / "reports/street_gender.csv"), worn_split(out=ROOT / "reports/worn_split.csv")
    rows = []
    for stem in sorted(s for s, p in split.items() if p == part):
        photo = (STREET / "photos" / f"{stem}.jpg").read_bytes()
        response = respond(pipe, photo)
        truth = labelled_garments(np.asarray(Image.open(STREET / "labels" / f"{stem}.png")), names, families)
        gender, unsure = people[stem]
        meta = response.get("metadata") or {}
        rows.append({"stem": stem, "gender": gender, "uncertain": unsure, "photo_gender": label(meta.get("gender")),
                     "photo_gender_score": (meta.get("gender") or {}).get("score"),
                     "photo_article": label(meta.get("articleType")),
                     "photo_article_score": (meta.get("articleType") or {}).get("score"),
                     "scene": label(meta.get("scene")), "face": face_share(photo, response),
                     "families": sorted({a for g in truth for a in families.fine[g.label]}),
                     "garments": _match(response.get("garments", []), truth, families)})
    return rows


def _match(garments: list[dict[str, Any]], truth: list, families) -> list[dict[str, Any]]:
    """Each detection with the labelled garment it overlaps best (IoU >= MATCH_IOU), its family and embedding."""
    out = []
    for g in garments:
        mask = _mask(g["mask"])
        ious = [float(np.logical_and(mask, t.mask).sum() / max(np.logical_or(mask, t.mask).sum(), 1)) for t in truth]
        best = int(np.argmax(ious)) if ious else -1
        hit = best >= 0 and ious[best] >= MATCH_IOU
        meta = g.get("metadata") or {}
        out.append({"label": g["label"], "score": g["score"], "area": g.get("area"), "truth": best if hit else None,
                    "family": list(families.fine[truth[best].label]) if hit else None,
                    "article": label(meta.get("articleType")),
                    "article_score": (meta.get("articleType") or {}).get("score"),
                    "gender": label(meta.get("gender")), "gender_score": (meta.get("gender") or {}).get("score"),
                    "embedding": g.get("embedding")})
    return out


def _gender_figures(said: list[str | None], true: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"rows": len(true), "accuracy": _share([s == t for s, t in zip(said, true)]),
                           "null": _share([s is None for s in said])}
    for g in ("Women", "Men"):
        out[f"recall_{g}"] = _share([s == g for s, t in zip(said, true) if t == g])
    return out


def _share(flags: list[bool]) -> float | None:
    return round(float(np.mean(flags)), 4) if flags else None


def worn_figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    certain = [r for r in rows if not r["uncertain"]]
    matched = [(r, g) for r in rows for g in r["garments"] if g["family"]]
    article = [r["photo_article"] for r in rows]
    return {
        "photos": len(rows),
        "photo_gender": _gender_figures([r["photo_gender"] for r in certain], [r["gender"] for r in certain]),
        "photo_article_in_worn_or_null": _share([a is None or a in r["families"] for a, r in zip(article, rows)]),
        "photo_article_in_worn": _share([a in r["families"] for a, r in zip(article, rows)]),
        "photo_article_null": _share([a is None for a in article]),
        "scene_worn": _share([r["scene"] == "worn" for r in rows]) if any(r["scene"] for r in rows) else None,
        "garments": {"detected": sum(len(r["garments"]) for r in rows), "matched": len(matched),
                     "labelled_with_two_or_more_detections": _duplicates(rows)},
        "garment_family": _share([g["article"] in g["family"] for _, g in matched]) if matched else None,
        "garment_family_or_null": _share([g["article"] is None or g["article"] in g["family"] for _, g in matched])
        if matched else None,
        "garment_article_null": _share([g["article"] is None for _, g in matched]) if matched else None,
        "garment_gender": _gender_figures([g["gender"] for r, g in matched if not r["uncertain"]],
                                          [r["gender"] for r, g in matched if not r["uncertain"]]),
    }


def _duplicates(rows: list[dict[str, Any]]) -> int:
    count = 0
    for r in rows:
        hits = [g["truth"] for g in r["garments"] if g["truth"] is not None]
        count += sum(hits.count(t) > 1 for t in set(hits))
    return count


def product_rows(pipe, limit: int | None, seen: Callable[[dict[str, Any]], None] | None = None
                 ) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The attribute model's test split: each product's response metadata beside its labels (`seen`: called with
    each whole response, for measures of more than the photo's fields)."""
    split = {r["id"]: r["split"] for r in csv.DictReader(open(ROOT / "reports/attributes_split.csv"))}
    labels = {r["id"]: r for r in csv.DictReader(open(PRODUCTS / "styles.csv")) if split.get(r["id"]) == "test"}
    rows = []
    for pid in sorted(labels)[:limit]:
        path = PRODUCTS / "images" / f"{pid}.jpg"
        if not path.is_file():
            continue
        response = respond(pipe, path.read_bytes())
        if seen is not None:
            seen(response)
        meta = response.get("metadata") or {}
        rows.append({"id": pid, **{f: label(meta.get(f)) for f in PRODUCT_FIELDS if f not in CATEGORIES},
                     **{f: meta.get(f) for f in CATEGORIES}, "scene": label(meta.get("scene"))})
    return rows, [labels[r["id"]] for r in rows]


def product_figures(rows: list[dict[str, Any]], labels: list[dict[str, str]]) -> dict[str, Any]:
    """Each field's accuracy over the products whose label it has (the catalogue leaves some season and usage
    empty or NA)."""
    def accuracy(field: str) -> float | None:
        pairs = [(r[field], t[field]) for r, t in zip(rows, labels) if t.get(field) not in (None, "", "NA")]
        return _share([said == true for said, true in pairs]) if pairs and field in rows[0] else None

    return {"products": len(rows), **{f: accuracy(f) for f in PRODUCT_FIELDS},
            "scene_product": _share([r["scene"] == "product" for r in rows]) if any(r["scene"] for r in rows)
            else None}


def catalogue_vectors(pipe, cache: Path) -> tuple[np.ndarray, list[str]]:
    """Every catalogue product's served embedding (the whole photo), cached per embedder artifact."""
    rows = [r for r in csv.DictReader(open(PRODUCTS / "styles.csv"))
            if (PRODUCTS / "images" / f"{r['id']}.jpg").is_file()]
    key = str(pipe["embedder"].manifest.weights) + str(pipe["embedder"].manifest.artifact)
    if cache.is_file():
        stored = np.load(cache)
        if len(stored["ids"]) == len(rows) and "key" in stored and str(stored["key"]) == key:
            return stored["vectors"], [r["articleType"] for r in rows]
    from fashion.request.decode import decode_image

    emb, vectors = pipe.model("embedder"), []
    for i in range(0, len(rows), 64):
        images = [decode_image((PRODUCTS / "images" / f"{r['id']}.jpg").read_bytes()) for r in rows[i:i + 64]]
        vectors.append(emb.predict(emb.preprocess(images)[0]).numpy())
    out = np.concatenate(vectors)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, vectors=out, ids=np.array([r["id"] for r in rows]), key=np.array(key))
    return out, [r["articleType"] for r in rows]


def retrieval(rows: list[dict[str, Any]], products: np.ndarray, articles: list[str], k: int = 10) -> dict[str, Any]:
    """Worn garment -> products P@k: the share of a matched garment's k nearest products in its family."""
    garments = [g for r in rows for g in r["garments"] if g["family"] and g["embedding"] is not None]
    if not garments:
        return {"garments": 0}
    query = np.array([g["embedding"] for g in garments], dtype=np.float32)
    top = np.argsort(-(query @ products.T), axis=1)[:, :k]
    hit = [[articles[j] in g["family"] for j in row] for g, row in zip(garments, top)]
    chance = [np.mean([a in g["family"] for a in articles]) for g in garments]
    return {"garments": len(garments), "products": int(len(products)), f"P@{k}": round(float(np.mean(hit)), 4),
            "chance": round(float(np.mean(chance)), 4)}


def _men_share(label: str | None, score: float | None) -> float | None:
    """P(Men) among Men/Women from an uncalibrated answer (thresholds at 0.5: the label's score is its share)."""
    return None if label not in ("Men", "Women") else (score if label == "Men" else 1 - score)


def _best_threshold(shares: list[float], truth: list[str]) -> tuple[float, dict[str, float]]:
    """The P(Men) share at or above which to answer Men, in the target's own form: the most accurate threshold
    whose recall of each gender is at least RECALL_FLOOR (the most balanced one where none is): (threshold,
    {accuracy, recall_Women, recall_Men}). Balanced accuracy alone favours the rarer gender: on calib (20 men of
    136) it kept Women recall at 0.67 where 0.79 was possible with Men at 0.75."""
    best, best_key = (0.5, {}), (-1, -1.0)
    for t in sorted(set(np.round(shares, 3))):
        measured = _gender_figures(["Men" if s >= t else "Women" for s in shares], truth)
        figures = {k: measured[k] for k in ("accuracy", "recall_Women", "recall_Men")}
        key = _fit_key(figures)
        if key > best_key:
            best, best_key = (float(t), figures), key
    return best


def _fit_key(figures: dict[str, float]) -> tuple[int, float]:
    """How one source's gender fit ranks: meeting RECALL_FLOOR first, then accuracy (_best_threshold's order)."""
    floor_met = min(figures["recall_Women"], figures["recall_Men"]) >= RECALL_FLOOR
    return int(floor_met), figures["accuracy"] if floor_met else (figures["recall_Women"] + figures["recall_Men"]) / 2


def _joint_key(photo: dict[str, float], garment: dict[str, float]) -> tuple[int, float]:
    """How a (photo source, garment source) pair ranks: both fits meeting RECALL_FLOOR first, then their mean."""
    (p_met, p), (g_met, g) = _fit_key(photo), _fit_key(garment)
    return p_met * g_met, (p + g) / 2


def _garment_fits(worn: list[tuple[dict, dict]], wearer: dict[str, float]) -> dict[str, tuple[float, dict]]:
    """Each garment gender source's fit (_best_threshold): its crop, its wearer's share, or their mean."""
    sources = {"crop": [_men_share(g["gender"], g["gender_score"]) for _, g in worn],
               "photo": [wearer[r["stem"]] for r, _ in worn]}
    sources["mean"] = [(a + b) / 2 for a, b in zip(sources["crop"], sources["photo"])]
    return {k: _best_threshold(v, [r["gender"] for r, _ in worn]) for k, v in sources.items()}


def _rounded(figures: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in figures.items()}


def _article_threshold(garments: list[dict[str, Any]]) -> tuple[float, float, float]:
    """The articleType score below which a garment says null: the one that scores most when a right answer counts
    +1, a wrong one -1 and a null 0 (null only where a wrong answer is likelier than a right one), at most NULL_CAP
    null: (threshold, right share, right-or-null share). Counting a null as good as a right answer instead would
    always null up to the cap, right answers included."""
    best = (0.0, -np.inf, 0.0, 0.0)
    for t in sorted({0.0, *(round(g["article_score"], 3) for g in garments)}):
        null = np.array([g["article_score"] < t for g in garments])
        if null.mean() > NULL_CAP:
            break
        right = np.array([g["article"] in g["family"] for g in garments]) & ~null
        gain = float(right.sum() - (~right & ~null).sum())
        if gain > best[1]:
            best = (float(t), gain, float(right.mean()), float((right | null).mean()))
    return best[0], best[2], best[3]


def _main_answers(rows: list[dict[str, Any]], threshold: float, rule: str) -> list[tuple[str | None, float, list]]:
    """Per photo: the main garment's (articleType, score) under a rule (fashion.worn.worn_metadata.main_garment), and
    the photo's true families."""
    from fashion.worn.worn_metadata import main_garment

    out = []
    for r in rows:
        gs = [{"articleType": {"label": g["article"] if g["article_score"] >= threshold else None,
                               "score": g["article_score"]}} for g in r["garments"]]
        main = main_garment(gs, [g["area"] for g in r["garments"]], rule) if gs else None
        out.append((None, 0.0, r["families"]) if main is None else
                   (gs[main]["articleType"]["label"], gs[main]["articleType"]["score"], r["families"]))
    return out


def _photo_article(rows: list[dict[str, Any]], threshold: float) -> tuple[str, float, float]:
    """Which garment names a worn photo and the score below which its articleType is null (most photos right or
    null, at most NULL_CAP null): (rule, threshold, right-or-null share)."""
    best = ("largest", threshold, -1.0)
    for rule in ("largest", "surest"):
        answers = _main_answers(rows, threshold, rule)
        for t in sorted({threshold, *(round(s, 3) for _, s, _ in answers if s >= threshold)}):
            null = [a is None or s < t for a, s, _ in answers]
            if np.mean(null) > NULL_CAP:
                break
            ok = np.mean([n or a in fams for n, (a, _, fams) in zip(null, answers)])
            if ok > best[2]:
                best = (rule, float(t), float(ok))
    return best


def calibrate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Thresholds and sources from uncalibrated rows of the calib part (fashion.worn.worn_metadata.Calibration): each
    gender threshold by accuracy with each recall at least RECALL_FLOOR (_best_threshold), the photo's and the
    garments' sources together (_joint_key), a garment's articleType threshold by right minus wrong
    (_article_threshold), the photo's by right-or-null (the issue's measure for it, null at most NULL_CAP)."""
    from fashion.worn import worn_gender

    certain = [r for r in rows if not r["uncertain"]]
    photo = {r["stem"]: _men_share(r["photo_gender"], r["photo_gender_score"]) for r in rows}
    # a garment whose gender the answers-agree rule nulled (a skirt on a wearer read as a man) has no share here
    crops = {r["stem"]: [s for g in r["garments"] if (s := _men_share(g["gender"], g["gender_score"])) is not None]
             for r in rows}
    shares = {"photo": photo,
              "mean": {r["stem"]: float(np.mean([photo[r["stem"]], *crops[r["stem"]]])) for r in rows}}
    outfit = worn_gender.load()
    faces = FACE_WEIGHTS if any(r.get("face") is not None for r in rows) else (0.0,)
    for weight in OUTFIT_PHOTO_WEIGHTS if outfit is not None else ():
        for face in faces:
            shares[f"outfit:{weight}:{face}"] = {
                r["stem"]: outfit.share([g["label"] for g in r["garments"]], photo[r["stem"]], weight, r.get("face"),
                                        face) for r in rows}
    photo_fits = {k: _best_threshold([v[r["stem"]] for r in certain], [r["gender"] for r in certain])
                  for k, v in shares.items()}
    worn = [(r, g) for r in certain for g in r["garments"]
            if g["family"] and _men_share(g["gender"], g["gender_score"]) is not None]
    garment_fits = {k: _garment_fits(worn, shares[k] if k.startswith("outfit") else photo) for k in shares}
    # the photo's source and the garments' together: both floors met first, then the mean of the two accuracies
    photo_from, garment_from = max(((k, g) for k in shares for g in garment_fits[k]), key=lambda kg: _joint_key(
        photo_fits[kg[0]][1], garment_fits[kg[0]][kg[1]][1]))
    garment_fits = garment_fits[photo_from]
    article_t, article_right, article_ok = _article_threshold([g for r in rows for g in r["garments"] if g["family"]])
    rule, photo_t, photo_ok = _photo_article(rows, article_t)
    source, weight, face = (photo_from.split(":") + ["", ""])[:3]
    return {"men_share": photo_fits[photo_from][0], "women_share": photo_fits[photo_from][0] - 1e-4,
            "photo_gender_from": source, **({"outfit_photo_weight": float(weight)} if weight else {}),
            **({"face_weight": float(face)} if face else {}),
            "faces_found": round(float(np.mean([r.get("face") is not None for r in rows])), 4),
            "garment_men_share": garment_fits[garment_from][0],
            "garment_women_share": garment_fits[garment_from][0] - 1e-4, "garment_gender_from": garment_from,
            "article_score": article_t, "main_garment": rule, "photo_article_score": photo_t,
            "calibrated_on": f"the worn split's calib part ({len(rows)} street photos; python -m bench.worn "
                             "--calibrate)",
            "on_calib": {"photo_gender": {k: _rounded(v[1]) for k, v in photo_fits.items()},
                         f"garment_gender (photo from {photo_from})": {k: _rounded(v[1])
                                                                       for k, v in garment_fits.items()},
                         "garment_family_right": round(article_right, 4),
                         "garment_family_right_or_null": round(article_ok, 4),
                         "photo_article_right_or_null": round(photo_ok, 4)}}


def measure(export: Path, part: str, product_limit: int | None, cache: Path) -> dict[str, Any]:
    from fashion.pipeline import Pipeline

    pipe, start = Pipeline.load(export, torch.device("cpu")), time.perf_counter()
    rows = worn_rows(pipe, part)
    products, articles = catalogue_vectors(pipe, cache)
    out: dict[str, Any] = {"part": part, "export": str(export), "worn": worn_figures(rows),
                           "retrieval": retrieval(rows, products, articles)}
    if product_limit != 0:
        out["products"] = product_figures(*product_rows(pipe, product_limit))
    out["seconds"] = round(time.perf_counter() - start, 1)
    return out


TARGETS = {"photo gender": ">= 0.85, each recall >= 0.70",
           "photo articleType in worn (or null)": ">= 0.80, null <= 0.30",
           "garment articleType family": ">= 0.75", "garment gender": ">= 0.85, each recall >= 0.70",
           "worn garment -> products P@10": ">= 0.40", "scene": ">= 0.98", "products": "within 1 point"}


# the pretrained-weights issue's targets (reports/pretrained_trunk.md)
PRETRAINED_TARGETS = {**TARGETS, "photo gender": ">= 0.93, each recall >= 0.80", "garment gender": ">= 0.92",
                      "garment articleType family": ">= 0.80", "worn garment -> products P@10": ">= 0.55",
                      "scene": ">= 0.99", "products": "gender >= 0.93, masterCategory >= 0.995, subCategory >= "
                      "0.975, articleType >= 0.89, baseColour >= 0.68, season >= 0.77, usage >= 0.92"}
TARGET_SETS = {"worn": TARGETS, "pretrained": PRETRAINED_TARGETS}


def _g(f: dict[str, Any] | None) -> str:
    if not f or f.get("accuracy") is None:
        return "none"
    return f"{f['accuracy']:.3f} (Women {f['recall_Women']:.2f}, Men {f['recall_Men']:.2f}, null {f['null']:.2f})"


def _n(v: Any) -> str:
    return "none" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def table_rows(d: dict[str, Any]) -> list[str]:
    w, p, r = d["worn"], d.get("products", {}), d["retrieval"]
    if w["garment_article_null"] == 1.0 and w["garment_gender"]["null"] == 1.0:  # garments had no metadata
        w = {**w, "garment_family": None, "garment_family_or_null": None, "garment_gender": None}
    return [_g(w["photo_gender"]),
            f"{_n(w['photo_article_in_worn_or_null'])} (right {_n(w['photo_article_in_worn'])}, null "
            f"{_n(w['photo_article_null'])})",
            "none (no garment metadata)" if w["garment_family"] is None else
            f"{_n(w['garment_family'])} (or null {_n(w['garment_family_or_null'])}, "
            f"null {_n(w['garment_article_null'])})",
            _g(w["garment_gender"]),
            f"{_n(r.get('P@10'))} (chance {_n(r.get('chance'))}, {r.get('garments', 0)} garments)",
            f"worn {_n(w['scene_worn'])}, products {_n(p.get('scene_product'))}",
            ", ".join(f"{f} {_n(p.get(f))}" for f in PRODUCT_FIELDS if f in p) + f" ({p.get('products', 0)} photos)",
            f"{w['garments']['detected']} detected, {w['garments']['matched']} matched, "
            f"{w['garments']['labelled_with_two_or_more_detections']} labelled garments found twice"]


def markdown(before: dict[str, Any], after: dict[str, Any], targets: dict[str, str] = TARGETS) -> str:
    names = ["photo gender", "photo articleType in worn (or null)", "garment articleType family", "garment gender",
             "worn garment -> products P@10", "scene", "products", "garments on the photos"]
    return before_after("what a user reads", names, table_rows(before), table_rows(after), targets)


def before_after(what: str, names: list[str], before: list[str], after: list[str], targets: dict[str, str],
                 missing: str = "-") -> str:
    """A markdown table: one row per name, its before and after cells and its target."""
    lines = [f"| {what} | before | after | target |", "|---|---|---|---|"]
    for name, b, a in zip(names, before, after):
        lines.append(f"| {name} | {b} | {a} | {targets.get(name, missing)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.worn", description=__doc__.split("\n\n")[0])
    ap.add_argument("--export", type=Path, default=ROOT / "build/export")
    ap.add_argument("--part", default="val", choices=("val", "calib"))
    ap.add_argument("--products", type=int, default=None, help="product test photos (default all; 0: none)")
    ap.add_argument("--cache", type=Path, default=None, help="catalogue embeddings (default: under the export)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--calibrate", action="store_true",
                    help="choose the thresholds on the calib part (uncalibrated answers) and write them to --out")
    ap.add_argument("--markdown", type=Path, nargs=2, metavar=("BEFORE", "AFTER"),
                    help="render the table of two result files into --out (reports/worn.md's table)")
    ap.add_argument("--targets", choices=sorted(TARGET_SETS), default="worn", help="which targets the table shows")
    args = ap.parse_args(argv)
    if args.markdown:
        table = markdown(*(json.loads(p.read_text()) for p in args.markdown), TARGET_SETS[args.targets])
        text = args.out.read_text() if args.out.is_file() else ""
        start, end = "<!-- table: python -m bench.worn --markdown -->", "<!-- end of table -->"
        block = f"{start}\n{table}{end}"
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):] if start in text else block + "\n"
        args.out.write_text(text)
        print(table)
        return 0
    if args.calibrate:
        from fashion.pipeline import Pipeline
        from fashion.worn.worn_metadata import Calibration

        pipe = Pipeline.load(args.export, torch.device("cpu"))
        pipe["attributes"].calibration = Calibration()
        result = calibrate(worn_rows(pipe, "calib"))
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(json.dumps(result, indent=1))
        return 0
    result = measure(args.export, args.part, args.products, args.cache or args.export / "catalogue_vectors.npz")
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""python -m bench.agreement: do a response's answers agree with each other (issue 35's measure)?

On product shots (the attribute test split, reports/attributes_split.csv; never trained or calibrated on): the
share of photos listing two or more garments of one group, and the share of garments whose articleType is not
their photo's. On photos of people (the worn split's val part, reports/worn_split.csv): the garments whose
gender x articleType pair the catalogue has under 1 % of (fashion/worn/article_prior.py; "Men" with Heels, Dresses,
Skirts or Handbags counted apart), and the garments whose metadata baseColour is outside the colour family of
their measured colour (fashion/garments/colour.py). Also the photos' own fields against their labels (bench.worn's
product figures), so a fix that buys agreement with accuracy shows it. Reads only responses: run it on the code before
and after (`--out` each, then `--markdown BEFORE AFTER`).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
WOMENS = ("Heels", "Dresses", "Skirts", "Handbags")  # the examples of what a "Men" garment is never called


def _share(n: int, d: int) -> float | None:
    return round(n / d, 4) if d else None


def product_figures(pipe, limit: int) -> dict[str, Any]:
    """Duplicate groups and articleType disagreement on product shots, and the photo fields' accuracy."""
    from bench.worn import label, product_figures as accuracy, product_rows
    from fashion.worn import article_prior

    responses: list[dict[str, Any]] = []
    rows, truth = product_rows(pipe, limit, responses.append)
    duplicated = garments = differ = rare = 0
    for response in responses:
        meta = response.get("metadata") or {}
        gender, article = label(meta.get("gender")), label(meta.get("articleType"))
        rare += bool(gender and article and not article_prior.allowed(gender, article))
        groups = Counter(g["label"] for g in response.get("garments", []))
        duplicated += any(n > 1 for n in groups.values())
        for g in response.get("garments", []):
            garments += 1
            differ += label((g.get("metadata") or {}).get("articleType")) != article
    photos = len(responses)
    return {"photos": photos, "with_duplicate_group": _share(duplicated, photos), "garments": garments,
            "article_differs_from_photo": _share(differ, garments), "rare_gender_article": _share(rare, photos),
            "accuracy": accuracy(rows, truth)}


def worn_figures(pipe, part: str) -> dict[str, Any]:
    """Rare gender x articleType pairs and colour disagreement on the worn split's photos of `part`."""
    from bench.worn import STREET, label, respond
    from fashion.worn import article_prior
    from fashion.garments import colour
    from training.worn import worn_split

    split = worn_split(out=ROOT / "reports/worn_split.csv")
    garments = rare = womens = coloured = agree = 0
    pairs: Counter = Counter()
    for stem in sorted(s for s, p in split.items() if p == part):
        response = respond(pipe, (STREET / "photos" / f"{stem}.jpg").read_bytes())
        for g in response.get("garments", []):
            meta = g.get("metadata") or {}
            gender, article = label(meta.get("gender")), label(meta.get("articleType"))
            garments += 1
            if gender and article and not article_prior.allowed(gender, article):
                rare += 1
                pairs[f"{gender} {article}"] += 1
            womens += gender == "Men" and article in WOMENS
            measured, said = (g.get("colour") or {}).get("name"), label(meta.get("baseColour"))
            if measured and said:
                coloured += 1
                agree += colour.family(measured) == colour.family(said)
    return {"part": part, "garments": garments, "rare_gender_article": _share(rare, garments),
            "rare_pairs": dict(pairs.most_common()), "men_with_womens_article": _share(womens, garments),
            "garments_with_both_colours": coloured, "colour_family_agrees": _share(agree, coloured)}


def measure(models: Path, products: int, part: str) -> dict[str, Any]:
    from fashion.pipeline import Pipeline

    start = time.perf_counter()
    pipe = Pipeline.load(models, torch.device("cpu"))
    out = {"models": str(models), "products": product_figures(pipe, products), "worn": worn_figures(pipe, part)}
    return {**out, "seconds": round(time.perf_counter() - start, 1)}


TARGETS = {"product shots with duplicate garments of one group": "<= 0.02",
           "product garments whose articleType differs from the photo's": "<= 0.10",
           "worn garments answered Men with Heels, Dresses, Skirts or Handbags": "<= 0.01",
           "worn garments whose baseColour is in their measured colour's family": ">= 0.90"}


def markdown(before: dict[str, Any], after: dict[str, Any]) -> str:
    def rows(d: dict[str, Any]) -> list[str]:
        p, w = d["products"], d["worn"]
        return [f"{p['with_duplicate_group']} ({p['photos']} photos)",
                f"{p['article_differs_from_photo']} ({p['garments']} garments)",
                f"{w['men_with_womens_article']} (any pair under 1 %: {w['rare_gender_article']}; {w['garments']} "
                f"garments)", f"{w['colour_family_agrees']} ({w['garments_with_both_colours']} garments)",
                ", ".join(f"{k} {v:.3f}" for k, v in p["accuracy"].items() if isinstance(v, float))]
    from bench.worn import before_after

    return before_after("measure", [*TARGETS, "product photos' fields (accuracy)"], rows(before), rows(after),
                        TARGETS, missing="not lower")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.agreement", description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", type=Path, default=ROOT / "build/export", help="an export folder")
    ap.add_argument("--products", type=int, default=300, help="product test photos (the first N ids)")
    ap.add_argument("--part", default="val", choices=("val", "calib"), help="the worn split's part")
    ap.add_argument("--out", type=Path, help="write the figures here (JSON)")
    ap.add_argument("--markdown", type=Path, nargs=2, metavar=("BEFORE", "AFTER"),
                    help="print the table of two result files")
    args = ap.parse_args(argv)
    if args.markdown:
        print(markdown(*(json.loads(p.read_text()) for p in args.markdown)), end="")
        return 0
    result = measure(args.models, args.products, args.part)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

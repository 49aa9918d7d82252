"""python -m bench.colour_agreement: garment colour vs the catalogue's baseColour label on real product photos.

Product photos have no garment masks, so the product is separated from its plain studio background: pixels
farther than BACKGROUND_DELTA_E (CIELAB) from the median border colour, cleaned by a morphological opening.
Each photo is then named three ways and compared with its `baseColour` label (exact name, and same family):
  ours          fashion.garments.colour.dominant_colour inside the product mask (what the served response gives);
  mask mean     the mean colour of the product mask, named by the nearest table entry;
  image mean    the mean colour of the whole photo (no mask), named likewise.
Rows labelled with a pattern or material instead of a colour (Multi, Metallic, Grey Melange, Steel) or
missing are counted apart. Writes reports/colour.md and .json.

Held-in / held-out: photos whose id is not a multiple of 5 are held in; `--fit` measures the colour table
(fashion/garments/colour_table.json) on them: each colour with at least FIT_MIN_PHOTOS photos takes the median of its
photos' dominant cluster centre (CIELAB); the rest keep the hand-picked REFERENCE value. Agreement is always
reported on the held-out photos (id a multiple of 5), which the fit never sees.
"""
from __future__ import annotations

import argparse
import importlib
import collections
import json
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

import fashion.garments.colour as colour
from fashion.request.decode import decode_image
from training.catalogue import clean, read_catalogue

BACKGROUND_DELTA_E = 12.0
FIT_MIN_PHOTOS = 10
DATA = Path("../shared/data/fashion_products")

# name: (hand-picked sRGB, family): the table before any fit, and the value of colours too rare to measure
REFERENCE: dict[str, tuple[str, str]] = {
    "Black": ("#141414", "black"), "Charcoal": ("#36454F", "grey"), "Grey": ("#8C8C8C", "grey"),
    "Grey Melange": ("#A7A9AC", "grey"), "Silver": ("#C0C0C0", "grey"), "Steel": ("#7A8B99", "grey"),
    "Metallic": ("#9EA3A8", "grey"), "White": ("#F7F7F7", "white"), "Off White": ("#EDE8DC", "white"),
    "Cream": ("#F3E5C0", "white"), "Beige": ("#D8C3A5", "beige"), "Khaki": ("#B9A77C", "beige"),
    "Skin": ("#E0B89A", "beige"), "Nude": ("#E3BC9A", "beige"), "Brown": ("#6B4226", "brown"),
    "Coffee Brown": ("#4B3621", "brown"), "Mushroom Brown": ("#9C8A78", "brown"), "Tan": ("#C19A6B", "brown"),
    "Taupe": ("#8B7D6B", "brown"), "Bronze": ("#8C6A32", "brown"), "Copper": ("#B56A3C", "brown"),
    "Red": ("#C62828", "red"), "Maroon": ("#6D1A2B", "red"), "Burgundy": ("#800020", "red"),
    "Rust": ("#A0472B", "red"), "Pink": ("#F06292", "pink"), "Rose": ("#E8909C", "pink"),
    "Magenta": ("#C2185B", "pink"), "Peach": ("#F6B99A", "pink"), "Purple": ("#6A1B9A", "purple"),
    "Lavender": ("#B7A6D8", "purple"), "Mauve": ("#B48395", "purple"), "Blue": ("#2F5DA8", "blue"),
    "Navy Blue": ("#1F2A44", "blue"), "Turquoise Blue": ("#30B3C6", "blue"), "Teal": ("#00796B", "blue"),
    "Green": ("#2E7D32", "green"), "Olive": ("#6B6B2E", "green"), "Sea Green": ("#2E8B57", "green"),
    "Lime Green": ("#8BC34A", "green"), "Fluorescent Green": ("#7FFF00", "green"),
    "Yellow": ("#F5D033", "yellow"), "Mustard": ("#D4A017", "yellow"), "Gold": ("#C9A227", "yellow"),
    "Orange": ("#EF6C00", "orange"), "Multi": ("", "multi"),
}


def held_out(record_id: str) -> bool:
    return int(record_id) % 5 == 0 if record_id.isdigit() else False


def product_mask(image: np.ndarray) -> np.ndarray:
    """bool (H, W): pixels that differ from the photo's border colour (a studio background)."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    background = colour.to_lab(np.median(border, axis=0).astype(np.uint8)[None])[0]
    distance = np.linalg.norm(colour.to_lab(image.reshape(-1, 3)) - background, axis=1).reshape(image.shape[:2])
    mask = (distance > BACKGROUND_DELTA_E).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    return mask.astype(bool)


def _mean_name(pixels: np.ndarray) -> str:
    return colour.nearest_names(colour.to_lab(pixels.reshape(-1, 3).mean(axis=0).round().astype(np.uint8)[None]))[0]


def photos(csv: Path, images: Path, limit: int | None, held: bool, skipped: collections.Counter):
    """(label, RGB image, product mask) of the held-out (held=True) or held-in photos with a colour label."""
    records, _ = read_catalogue(csv, images, limit)
    for r in records:
        if held_out(r.id) != held:
            continue
        label = clean(r.labels["baseColour"])
        if label is None or label in colour.NOT_A_COLOUR or label not in REFERENCE:
            skipped[label or "missing"] += 1
            continue
        image = np.asarray(decode_image(r.image.read_bytes()))
        mask = product_mask(image)
        if mask.sum() < 0.02 * mask.size:  # white product on white: the whole photo
            skipped["no foreground found (used the whole photo)"] += 1
            mask = np.ones(mask.shape, bool)
        yield label, image, mask


def fit(csv: Path, images: Path, limit: int | None = None) -> dict[str, Any]:
    """The colour table measured on the held-in photos (see the module docstring)."""
    centres: dict[str, list[np.ndarray]] = collections.defaultdict(list)
    for label, image, mask in photos(csv, images, limit, held=False, skipped=collections.Counter()):
        lab, assignment = colour.clusters(colour.mask_pixels(image, mask))
        centres[label].append(lab[np.bincount(assignment).argmax()])
    table = {}
    for name, (hex_value, fam) in REFERENCE.items():
        n = len(centres[name])
        if n >= FIT_MIN_PHOTOS and name not in colour.NOT_A_COLOUR:
            lab = np.median(centres[name], axis=0).astype(np.float32).reshape(1, 1, 3)
            rgb = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB).reshape(3) * 255
            table[name] = {"hex": colour.rgb_to_hex(rgb), "family": fam, "source": f"measured on {n} photos"}
        else:
            table[name] = {"hex": hex_value, "family": fam, "source": "reference" if n == 0 else
                           f"reference (only {n} photos)"}
    return {"about": "fashion/garments/colour.py; written by python -m bench.colour_agreement --fit", "colours": table}


def measure(csv: Path, images: Path, limit: int | None = None) -> dict[str, Any]:
    hits = {m: collections.Counter() for m in ("ours", "mask mean", "image mean")}
    skipped = collections.Counter()
    per_label = collections.defaultdict(collections.Counter)
    for label, image, mask in photos(csv, images, limit, held=True, skipped=skipped):
        answers = {"ours": colour.dominant_colour(image, mask)["name"], "mask mean": _mean_name(image[mask]),
                   "image mean": _mean_name(image)}
        for method, name in answers.items():
            hits[method]["rows"] += 1
            hits[method]["exact"] += name == label
            hits[method]["family"] += colour.family(name) == colour.family(label)
        per_label[label]["rows"] += 1
        per_label[label]["exact"] += answers["ours"] == label
        per_label[label]["family"] += colour.family(answers["ours"]) == colour.family(label)
    rate = {m: {"rows": h["rows"], "exact": round(h["exact"] / max(1, h["rows"]), 4),
                "family": round(h["family"] / max(1, h["rows"]), 4)} for m, h in hits.items()}
    labels = {k: {"rows": v["rows"], "exact": round(v["exact"] / v["rows"], 4),
                  "family": round(v["family"] / v["rows"], 4)}
              for k, v in sorted(per_label.items(), key=lambda kv: -kv[1]["rows"])}
    table = json.loads(colour.TABLE_PATH.read_text())["colours"]
    return {"csv": str(csv), "images": str(images), "limit": limit, "agreement": rate, "per_label": labels,
            "not_compared": dict(skipped), "table": table}


def markdown(r: dict[str, Any]) -> str:
    lines = ["# Garment colour vs the catalogue's baseColour", "",
             "Produced by `python -m bench.colour_agreement` on the product photos of "
             f"`{r['images']}` (labels from `{r['csv']}`). Method: see `bench/colour_agreement.py` and "
             "`fashion/garments/colour.py`; 'family' counts near misses such as Navy Blue for Blue as agreeing.", "",
             "Agreement on the held-out photos (id a multiple of 5; the table was fitted on the others):", "",
             "| method | photos | exact name | same family |", "|---|---:|---:|---:|"]
    for method, a in r["agreement"].items():
        lines.append(f"| {method} | {a['rows']} | {a['exact']:.1%} | {a['family']:.1%} |")
    lines += ["", "Not compared: " + ", ".join(f"{k}: {v}" for k, v in r["not_compared"].items()) + ".", "",
              "## Ours, per catalogue label (labels with 20 or more photos)", "",
              "| baseColour | photos | exact | family |", "|---|---:|---:|---:|"]
    lines += [f"| {k} | {v['rows']} | {v['exact']:.1%} | {v['family']:.1%} |"
              for k, v in r["per_label"].items() if v["rows"] >= 20]
    lines += ["", "## The colour table (fashion/garments/colour_table.json)", "", "| name | hex | family | value |",
              "|---|---|---|---|"]
    lines += [f"| {k} | `{v['hex'] or '-'}` | {v['family']} | {v['source']} |" for k, v in r["table"].items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.colour_agreement", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--csv", type=Path, default=DATA / "styles.csv")
    p.add_argument("--images", type=Path, default=DATA / "images")
    p.add_argument("--limit", type=int, help="first N usable rows only")
    p.add_argument("--out", type=Path, default=Path("reports"))
    p.add_argument("--fit", action="store_true", help="first measure the colour table on the held-in photos")
    args = p.parse_args(argv)
    if args.fit:
        table = fit(args.csv, args.images, args.limit)
        colour.TABLE_PATH.write_text(json.dumps(table, indent=1) + "\n")
        importlib.reload(colour)
    result = measure(args.csv, args.images, args.limit)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "colour.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "colour.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""python -m bench.garment_misses: the labelled garments no served garment covers (issue 32's measure).

On the fixed validation split's street photos (reports/segmenter_split.csv, never trained on), the labelled
garments are the instances the segmenter is trained on (training.segmentation.instances: a connected region of
one served group of fashion/garments/garment_groups.yaml, so two shoes are two garments) that cover at least
MIN_SHARE of the photo. It is missed when no garment the pipeline serves
at its default settings (any label) overlaps it at mask IoU >= MATCH_IOU. Also: how many served garments match
no labelled garment. Prints JSON; --out writes it. Compare two exports: run it on each (--models).
--min-score asks for another garment score threshold than the export's default (the request option), to see the
trade between missed garments and served garments that match nothing.
"""
from __future__ import annotations

import argparse
import base64
import csv
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from fashion.garments.masks import decode_rle

ROOT = Path(__file__).resolve().parents[1]
STREET = ROOT.parent / "shared" / "data" / "street_photos"
MIN_SHARE = 0.01  # a labelled garment covers at least this share of the photo
MATCH_IOU = 0.5


def labelled(label_map: np.ndarray, names: list[str]) -> list[tuple[str, np.ndarray]]:
    """(group, mask) of each labelled garment of one photo's label map that covers MIN_SHARE of it."""
    from fashion.garments.garment_groups import load
    from training.segmentation.instances import from_label_map

    grouping = load()
    instances = from_label_map(label_map, grouping.index_table("ccp", names), len(grouping.groups))
    return [(grouping.groups[i.class_id], i.mask) for i in instances if i.mask.mean() >= MIN_SHARE]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def measure(models: Path, split: Path, part: str = "val", min_score: float | None = None) -> dict:
    import torch

    from fashion.pipeline import Pipeline

    pipe = Pipeline.load(models, torch.device("cpu"))
    names = json.loads((STREET / "label_list.json").read_text())
    with open(split, newline="") as f:
        stems = sorted(r["id"] for r in csv.DictReader(f) if r["split"] == part)
    total, missed, served, unmatched = Counter(), Counter(), 0, 0
    for stem in stems:
        photo = (STREET / "photos" / f"{stem}.jpg").read_bytes()
        request = {"b64": base64.b64encode(photo).decode(), "include": ["garments"]}
        if min_score is not None:
            request["min_score"] = min_score
        body = json.dumps(request).encode()
        response, status = pipe([{"body": body}])[0]
        if status != 200:
            raise RuntimeError(f"{stem}: {status} {response}")
        masks = [decode_rle(g["mask"]) for g in response["garments"]]
        truth = labelled(np.asarray(Image.open(STREET / "labels" / f"{stem}.png")), names)
        for group, mask in truth:
            total[group] += 1
            missed[group] += not any(_iou(mask, m) >= MATCH_IOU for m in masks if m.shape == mask.shape)
        served += len(masks)
        unmatched += sum(not any(_iou(t, m) >= MATCH_IOU for _, t in truth if t.shape == m.shape) for m in masks)
    return {"photos": len(stems), "part": part, "labelled": sum(total.values()), "missed": sum(missed.values()),
            "missed_share": round(sum(missed.values()) / max(sum(total.values()), 1), 4),
            "by_group": {g: {"labelled": total[g], "missed": missed[g]} for g in sorted(total)},
            "served": served, "served_matching_nothing": unmatched, "min_share": MIN_SHARE, "match_iou": MATCH_IOU,
            "min_score": "the export's default" if min_score is None else min_score}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=Path, default=ROOT / "build" / "export")
    p.add_argument("--split", type=Path, default=ROOT / "reports" / "segmenter_split.csv")
    p.add_argument("--part", default="val", choices=("val", "train"))
    p.add_argument("--min-score", type=float, help="the garment score threshold asked for (default: the export's)")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    figures = {"models": str(args.models), **measure(args.models, args.split, args.part, args.min_score)}
    text = json.dumps(figures, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""python -m bench.suppression: class-agnostic garment suppression (fashion.stages.segment.OVERLAP) measured on the worn
split's street photos: for each overlap threshold, detections per photo, labelled garments found twice or more
(duplicates), labelled garments found at all (a detection with mask IoU >= 0.5, any class) and the share of
detections that match one. The served segmenter, its class-aware NMS as served, then each threshold.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench.worn import MATCH_IOU, ROOT, STREET

THRESHOLDS = (None, 0.9, 0.8, 0.7, 0.6, 0.5)


def detections(export: Path, part: str) -> list[tuple[list, list]]:
    """Per photo of the part: (its detections before suppression, its labelled garments)."""
    from fashion.stages import segment
    from fashion.request.decode import decode_image
    from fashion.manifest import load_artifact
    from fashion.worn.worn_families import load as load_families
    from training.worn import labelled_garments, worn_split

    segment.OVERLAP = float("inf")  # keep every detection the class-aware NMS keeps; thresholds applied below
    seg = segment.Segmenter(*load_artifact(export, "segmenter", torch.device("cpu")), torch.device("cpu"))
    families, names = load_families(), json.loads((STREET / "label_list.json").read_text())
    out = []
    for stem in sorted(s for s, p in worn_split(out=ROOT / "reports/worn_split.csv").items() if p == part):
        image = decode_image((STREET / "photos" / f"{stem}.jpg").read_bytes())
        batch, frames = seg.preprocess([np.asarray(image)])
        found = seg.postprocess(*seg.predict(batch), frames, [image.size])[0]
        truth = labelled_garments(np.asarray(Image.open(STREET / "labels" / f"{stem}.png")), names, families)
        out.append((found, truth))
    return out


def figures(photos: list[tuple[list, list]], threshold: float | None) -> dict:
    from fashion.garments.masks import suppress_overlaps

    found = twice = labelled = matched = kept_total = 0
    for dets, truth in photos:
        keep = range(len(dets)) if threshold is None else suppress_overlaps(
            [g.local for g in dets], [g.score for g in dets], threshold)
        kept = [dets[i] for i in keep]
        kept_total += len(kept)
        best = []
        for g in kept:
            ious = [np.logical_and(g.mask, t.mask).sum() / max(np.logical_or(g.mask, t.mask).sum(), 1) for t in truth]
            best.append(int(np.argmax(ious)) if ious and max(ious) >= MATCH_IOU else None)
        hits = [b for b in best if b is not None]
        matched += len(hits)
        labelled += len(truth)
        found += len(set(hits))
        twice += sum(hits.count(t) > 1 for t in set(hits))
    return {"overlap": threshold, "detections_per_photo": round(kept_total / len(photos), 2),
            "labelled_found": round(found / max(labelled, 1), 4), "labelled_found_twice": twice,
            "detections_matching_a_labelled_garment": round(matched / max(kept_total, 1), 4)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.suppression", description=__doc__.split("\n\n")[0])
    ap.add_argument("--export", type=Path, default=ROOT / "build/export")
    ap.add_argument("--part", default="calib", choices=("calib", "val"))
    args = ap.parse_args(argv)
    photos = detections(args.export, args.part)
    rows = [figures(photos, t) for t in THRESHOLDS]
    print(json.dumps({"part": args.part, "photos": len(photos), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Calibrate and evaluate garment by words (fashion/stages/garment_prompt.py) on labelled street photos.

For every photo and every served garment group there are two prompts: the group's name ("footwear") and a
synonym a user would type ("shoes"; SYNONYMS). A prompt is a positive when the group is labelled in the photo
(the selected garment should be that region) and a negative when it is absent (nothing should be selected). The
pipeline in this process (the exported models) gives each photo's garments and embeddings once; every prompt is
then scored against them. The threshold maximises Youden's J (selection rate on positives + no-selection rate on
negatives - 1) over both prompt kinds on the segmenter's training split; the figures are reported per kind on its
validation split, which neither the calibration nor the segmenter's training saw.
"""
from __future__ import annotations

import collections
import csv
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from fashion.stages import garment_prompt
from fashion.garments.garment_groups import load

IOU_HIT = 0.5
# what a user might type instead of the group's name (none is the group's catalogue word in garment_groups.yaml)
SYNONYMS = {"top": "blouse", "pants": "jeans", "footwear": "sneakers", "bag": "purse", "eyewear": "glasses",
            "outerwear": "coat", "hat": "sun hat", "skirt": "mini skirt", "dress": "gown", "shorts": "short pants",
            "belt": "leather belt", "scarf": "neck scarf"}
KINDS = ("name", "synonym")


@dataclasses.dataclass
class Trial:
    split: str
    kind: str  # "name" or "synonym"
    label: str
    present: bool
    score: float  # the best garment's score (-1 when the photo has no garment)
    iou: float  # that garment's mask IoU with the labelled region (0 for negatives)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def trials(export_dir: Path, root: Path, split_file: Path, limit_train: int = 300) -> list[Trial]:
    from fashion.pipeline import Pipeline, decode
    from fashion.results import GarmentEmbeddings
    from training.segmentation.dataset import read
    from training.segmentation.instances import Dropped

    grouping = load()
    split = {r["id"]: r["split"] for r in csv.DictReader(split_file.open())}
    pipeline = Pipeline.load(export_dir)
    vec = pipeline.model("embedder").label_vectors
    prompts = {"name": {g: vec((g,))[0] for g in grouping.groups},
               "synonym": {g: vec((SYNONYMS.get(g, g),))[0] for g in grouping.groups}}
    out, used = [], collections.Counter()
    for sample in read("ccp", root, grouping, 64, Dropped()):
        part = split.get(sample.stem)
        if part is None or (part == "train" and used["train"] >= limit_train):
            continue
        used[part] += 1
        env = decode({"body": sample.image.read_bytes()})
        pipeline.run([env])
        it = env.items[0]
        garments = it.garments or []
        regions: dict[str, np.ndarray] = {}
        for inst in sample.instances:
            name = grouping.groups[inst.class_id]
            regions[name] = inst.mask | regions[name] if name in regions else inst.mask
        labels = np.stack([vec((grouping.word_of(g.label),))[0] for g in garments]) if garments else None
        for kind in KINDS:
            for label in grouping.groups:
                if not garments:
                    out.append(Trial(part, kind, label, label in regions, -1.0, 0.0))
                    continue
                scores, best = garment_prompt.rank(prompts[kind][label], it.get(GarmentEmbeddings).vectors, labels,
                                                   cut=-2.0)
                iou = 0.0
                if label in regions:
                    mask, region = garments[best].mask, regions[label]
                    if region.shape != mask.shape:
                        region = np.array(Image.fromarray(region).resize(mask.shape[::-1], Image.Resampling.NEAREST))
                    iou = _iou(mask, region)
                out.append(Trial(part, kind, label, label in regions, scores[best], iou))
    return out


def youden(ts: list[Trial]) -> float:
    """The threshold that maximises selection on positives + no selection on negatives."""
    pos = np.array([t.score for t in ts if t.present])
    neg = np.array([t.score for t in ts if not t.present])
    candidates = np.unique(np.concatenate([pos, neg]))
    best, best_j = 0.0, -1.0
    for c in candidates:
        j = float((pos >= c).mean() + (neg < c).mean() - 1)
        if j > best_j:
            best, best_j = float(c), j
    return round(best, 4)


def figures(ts: list[Trial], cut: float) -> dict[str, Any]:
    pos = [t for t in ts if t.present]
    neg = [t for t in ts if not t.present]
    chosen = [t for t in pos if t.score >= cut]
    per_label = {}
    for label in sorted({t.label for t in ts}):
        p = [t for t in pos if t.label == label]
        n = [t for t in neg if t.label == label]
        s = [t for t in p if t.score >= cut]
        per_label[label] = {"positives": len(p), "selected": round(len(s) / len(p), 3) if p else None,
                            "mean_iou": round(float(np.mean([t.iou for t in s])), 3) if s else None,
                            "negatives": len(n), "none_selected": round(float(np.mean([t.score < cut for t in n])), 3)
                            if n else None}
    return {"prompts": len(ts), "positives": len(pos), "negatives": len(neg),
            "selected_on_positives": round(len(chosen) / len(pos), 3) if pos else None,
            "mean_iou_of_selected": round(float(np.mean([t.iou for t in chosen])), 3) if chosen else None,
            f"iou_at_least_{IOU_HIT}": round(float(np.mean([t.iou >= IOU_HIT for t in chosen])), 3) if chosen else None,
            "none_selected_on_negatives": round(float(np.mean([t.score < cut for t in neg])), 3) if neg else None,
            "per_label": per_label}


def markdown(report: dict[str, Any]) -> str:
    lines = ["# Garment by words", "",
             f"Threshold **{report['threshold']}** (the blended score of fashion/stages/garment_prompt.py, label "
             f"weight {report['label_weight']}), calibrated on {report['calibration']['prompts']} prompts (group names "
             f"and synonyms) from {report['calibration_photos']} training-split street photos (Youden's J); figures on "
             f"the {report['validation_photos']} validation photos (`reports/segmenter_split.csv`), never used for "
             f"calibration. Models: {report['models']}. Command: `make calibrate-prompt`.", ""]
    for kind in KINDS:
        v = report["validation"][kind]
        lines += [f"## Prompts: {kind}s" + (" (" + ", ".join(f"{k} -> {s}" for k, s in SYNONYMS.items()) + ")"
                                             if kind == "synonym" else ""), "",
                  f"- positives (the group is labelled in the photo): {v['positives']}; a garment selected for "
                  f"{v['selected_on_positives']:.1%}; mean mask IoU of the selected garment with the labelled "
                  f"region {v['mean_iou_of_selected']}; IoU >= {IOU_HIT} for {v[f'iou_at_least_{IOU_HIT}']:.1%} of "
                  "selections",
                  f"- negatives (the group is absent): {v['negatives']}; nothing selected for "
                  f"{v['none_selected_on_negatives']:.1%}", "",
                  "| prompt | positives | selected | mean IoU | negatives | none selected |",
                  "|---|---:|---:|---:|---:|---:|"]
        for label, m in v["per_label"].items():
            lines.append(f"| {label} | {m['positives']} | {m['selected']} | {m['mean_iou']} | {m['negatives']} | "
                         f"{m['none_selected']} |")
        lines.append("")
    return "\n".join(lines)

"""Mask mAP of a served segmenter (any backend and precision) on labelled street photos, through pycocotools.

The served code path (fashion.stages.segment: letterbox, forward, NMS, masks in the image's pixels) at a low score
threshold, against the label maps' instances (training.segmentation.dataset: one instance per connected region
of a served group). Used by bench.precision's segmenter gate: fp32 and a quantised variant through the same code.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from fashion.garments.garment_groups import load as load_groups
from fashion.stages.segment import Segmenter
from training.split import read_split

EVAL_SCORE = 0.001  # as detection mAP is usually computed (ultralytics' validator too)
EVAL_MAX = 100  # detections per image (COCOeval's largest maxDets)


def val_stems(split: Path = Path("reports/segmenter_split.csv"), part: str = "val") -> list[str]:
    return [i for i, p in read_split(split).items() if p == part]


Truth = dict[str, tuple[tuple[int, int], list[tuple[int, np.ndarray]]]]  # stem -> ((h, w), [(group, mask)])


def ground_truth(root: Path, stems: list[str]) -> Truth:
    """stem -> ((height, width), [(group index, bool mask)]) from the Clothing Co-Parsing label maps under root."""
    from training.segmentation.dataset import read
    from training.segmentation.instances import DEFAULT_MIN_AREA, Dropped

    wanted = set(stems)
    out = {}
    for sample in read("ccp", root, load_groups(), DEFAULT_MIN_AREA, Dropped()):
        if sample.stem in wanted:
            with Image.open(sample.image) as image:
                size = (image.height, image.width)
            out[sample.stem] = (size, [(i.class_id, i.mask) for i in sample.instances])
    return out


def _rle(mask: np.ndarray) -> dict:
    return mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))


def detections(seg: Segmenter, photos: list[Path]) -> list[list[tuple[int, float, np.ndarray]]]:
    """[(class id, score, mask)] per photo, the served postprocess at EVAL_SCORE."""
    out = []
    for path in photos:
        image = Image.open(path).convert("RGB")
        batch, frames = seg.preprocess([image])
        preds, protos = seg.predict(batch)
        garments = seg.postprocess(preds, protos, frames, [image.size], EVAL_SCORE, EVAL_MAX)[0]
        out.append([(g.class_id, g.score, g.mask) for g in garments])
    return out


def mask_map(truth: Truth, found: dict[str, list[tuple[int, float, np.ndarray]]],
             classes: list[str]) -> dict[str, float]:
    """{"map50", "map50_95"} over the photos in `truth`, COCO's segm evaluation (all areas, 100 detections)."""
    images, annotations, results = [], [], []
    for n, stem in enumerate(sorted(truth)):
        (h, w), instances = truth[stem]
        images.append({"id": n, "height": int(h), "width": int(w)})
        for cid, mask in instances:
            rle = _rle(mask)
            annotations.append({"id": len(annotations) + 1, "image_id": n, "category_id": cid, "iscrowd": 0,
                                "segmentation": rle, "area": float(mask_utils.area(rle)),
                                "bbox": list(mask_utils.toBbox(rle))})
        for cid, score, mask in found.get(stem, []):
            results.append({"image_id": n, "category_id": cid, "score": float(score), "segmentation": _rle(mask)})
    gt = COCO()
    gt.dataset = {"images": images, "annotations": annotations,
                  "categories": [{"id": i, "name": c} for i, c in enumerate(classes)]}
    gt.createIndex()
    if not results:
        return {"map50": 0.0, "map50_95": 0.0}
    evaluation = COCOeval(gt, gt.loadRes(results), "segm")
    evaluation.params.maxDets = [1, 10, EVAL_MAX]
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    return {"map50": float(evaluation.stats[1]), "map50_95": float(evaluation.stats[0])}

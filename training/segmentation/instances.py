"""Garment instances from any annotation, as masks first and YOLO-seg polygons last.

- Per-pixel label maps (Clothing Co-Parsing, CIHP): each fine class is mapped to its served group (garment_groups.yaml);
  an instance is a connected region of one group (8-connectivity), so two shoes are two instances and a blouse
  under a vest stays one "top". Regions under `min_area` pixels are dropped (label noise along edges, a few
  stray pixels); they are counted, never silently lost.
- COCO annotations (Fashionpedia, DeepFashion2): polygons and RLE (compressed or not) decoded by pycocotools.
- Polygons: each mask's outer contours (OpenCV). YOLO-seg has no holes, so a hole (a bag strap's loop) is
  filled; an instance in several parts (occluded) becomes one polygon joined at its closest points
  (ultralytics' own merge_multi_segment), so it stays one instance.
"""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np
from pycocotools import mask as mask_utils

DEFAULT_MIN_AREA = 64  # pixels at the label map's resolution


@dataclasses.dataclass
class Instance:
    class_id: int
    mask: np.ndarray  # bool (H, W)

    @property
    def area(self) -> int:
        return int(self.mask.sum())


@dataclasses.dataclass
class Dropped:
    """Fragments below min_area, per served class (what the data report shows)."""
    counts: dict[int, int] = dataclasses.field(default_factory=dict)
    pixels: dict[int, int] = dataclasses.field(default_factory=dict)

    def add(self, class_id: int, area: int) -> None:
        self.counts[class_id] = self.counts.get(class_id, 0) + 1
        self.pixels[class_id] = self.pixels.get(class_id, 0) + area


def from_label_map(label_map: np.ndarray, table: list[int], n_classes: int, min_area: int = DEFAULT_MIN_AREA,
                   dropped: Dropped | None = None) -> list[Instance]:
    """Connected regions per served class of a (H, W) map of fine label indices; table[fine] = class or -1."""
    lookup = np.full(max(256, len(table)), -1, dtype=np.int16)
    lookup[:len(table)] = table
    classes = lookup[label_map]
    out = []
    for class_id in range(n_classes):
        binary = (classes == class_id).astype(np.uint8)
        if not binary.any():
            continue
        count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        for k in range(1, count):
            area = int(stats[k, cv2.CC_STAT_AREA])
            if area < min_area:
                if dropped is not None:
                    dropped.add(class_id, area)
                continue
            out.append(Instance(class_id, labels == k))
    return out


def from_coco(annotation: dict, height: int, width: int) -> np.ndarray:
    """The bool mask of one COCO annotation: polygons, uncompressed RLE or compressed RLE."""
    seg = annotation["segmentation"]
    if isinstance(seg, list):  # polygons
        rles = mask_utils.frPyObjects(seg, height, width)
        rle = mask_utils.merge(rles)
    elif isinstance(seg.get("counts"), list):  # uncompressed RLE
        rle = mask_utils.frPyObjects(seg, height, width)
    else:
        rle = seg
    return mask_utils.decode(rle).astype(bool)


def polygon(mask: np.ndarray, epsilon: float = 1.0) -> np.ndarray | None:
    """One (N, 2) polygon in pixels for a mask: outer contours, simplified by `epsilon` px, parts joined."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    parts = [cv2.approxPolyDP(c, epsilon, True).reshape(-1, 2) for c in contours]
    parts = [p for p in parts if len(p) >= 3]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0].astype(np.float32)
    from ultralytics.data.converter import merge_multi_segment

    merged = merge_multi_segment([p.reshape(-1).tolist() for p in parts])
    return np.concatenate(merged, axis=0).astype(np.float32)


def yolo_line(instance: Instance, epsilon: float = 1.0) -> str | None:
    """'class x1 y1 x2 y2 ...' with coordinates normalised to [0, 1] (ultralytics' segment label format)."""
    points = polygon(instance.mask, epsilon)
    if points is None:
        return None
    h, w = instance.mask.shape
    norm = np.clip(points / np.array([w, h], dtype=np.float32), 0.0, 1.0)
    return f"{instance.class_id} " + " ".join(f"{v:.5f}" for v in norm.reshape(-1))

"""Convert a dataset to an ultralytics YOLO-seg folder: images (links, never copies), labels, data.yaml.

Sources: `ccp` (Clothing Co-Parsing: photos/, labels/*.png, label_list.json), `cihp` (CIHP/LIP: images/,
labels/*.png with class indices), `coco` (Fashionpedia/DeepFashion2 style: a COCO JSON + an image folder,
`--coco-json`). The fine classes go through garment_groups.yaml. The validation split is fixed: read from the split
file when it exists (the repository's reports/segmenter_split.csv), else drawn once (seed 0) and written there.
"""
from __future__ import annotations

import collections
import csv
import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Iterator

import numpy as np
import yaml
from PIL import Image

from fashion.garments.garment_groups import Grouping
from training.segmentation.instances import DEFAULT_MIN_AREA, Dropped, Instance, from_coco, from_label_map, yolo_line

VAL_FRACTION = 0.1
HEAT = (96, 64)  # (height, width) of the per-class spatial heat maps


@dataclasses.dataclass
class Sample:
    stem: str
    image: Path
    instances: list[Instance]
    fine_pixels: collections.Counter  # fine class name -> pixels (what grouping merges or drops)


def _label_map_samples(images: Path, labels: Path, names: list[str], source: str, grouping: Grouping,
                       min_area: int, dropped: Dropped) -> Iterator[Sample]:
    table = grouping.index_table(source, names)
    for label_path in sorted(labels.glob("*.png")):
        image = next((p for p in (images / f"{label_path.stem}{ext}" for ext in (".jpg", ".jpeg", ".png"))
                      if p.is_file()), None)
        if image is None:
            continue
        label_map = np.array(Image.open(label_path))
        values, counts = np.unique(label_map, return_counts=True)
        fine = collections.Counter({names[v]: int(c) for v, c in zip(values, counts) if v < len(names)})
        yield Sample(label_path.stem, image, from_label_map(label_map, table, len(grouping.groups), min_area,
                                                             dropped), fine)


def read(source: str, root: Path, grouping: Grouping, min_area: int, dropped: Dropped,
         coco_json: Path | None = None) -> Iterator[Sample]:
    if source == "ccp":
        names = json.loads((root / "label_list.json").read_text())
        yield from _label_map_samples(root / "photos", root / "labels", names, "ccp", grouping, min_area, dropped)
    elif source == "cihp":
        yield from _label_map_samples(root / "images", root / "labels", list(grouping.cihp_labels), "cihp",
                                      grouping, min_area, dropped)
    elif source == "coco":
        data = json.loads(Path(coco_json or root / "sample.json").read_text())
        names = {c["id"]: c["name"] for c in data["categories"]}
        by_image = collections.defaultdict(list)
        for a in data["annotations"]:
            by_image[a["image_id"]].append(a)
        for info in sorted(data["images"], key=lambda i: i["id"]):
            image = root / "images" / info["file_name"]
            if not image.is_file():
                continue
            instances, fine = [], collections.Counter()
            for a in by_image[info["id"]]:
                mask = from_coco(a, info["height"], info["width"])
                fine[names[a["category_id"]]] += int(mask.sum())
                group = grouping.group_of("fashionpedia", names[a["category_id"]])
                if group is None:
                    continue
                if mask.sum() < min_area:
                    dropped.add(grouping.groups.index(group), int(mask.sum()))
                    continue
                instances.append(Instance(grouping.groups.index(group), mask))
            yield Sample(Path(info["file_name"]).stem, image, instances, fine)
    else:
        raise ValueError(f"unknown source {source!r}: ccp, cihp or coco")


def fixed_split(stems: list[str], path: Path, seed: int = 0, val_fraction: float = VAL_FRACTION) -> dict[str, str]:
    """The split file's assignment when it exists (new stems go to train); else a seeded draw, written."""
    if path.is_file():
        with open(path, newline="") as f:
            known = {r["id"]: r["split"] for r in csv.DictReader(f)}
        return {s: known.get(s, "train") for s in stems}
    rng = np.random.default_rng(seed)
    val = set(rng.choice(sorted(stems), size=max(1, round(len(stems) * val_fraction)), replace=False).tolist())
    split = {s: "val" if s in val else "train" for s in sorted(stems)}
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "split"])
        w.writerows(split.items())
    return split


@dataclasses.dataclass
class Stats:
    """What the data report needs, gathered during the conversion."""
    groups: tuple[str, ...]
    instances: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    pixels: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    images_with: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    per_image: list[int] = dataclasses.field(default_factory=list)
    fine_pixels: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    fine_images: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    total_pixels: int = 0
    heat: np.ndarray | None = None
    split: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    empty_images: int = 0

    def add(self, sample: Sample, part: str) -> None:
        if self.heat is None:
            self.heat = np.zeros((len(self.groups), *HEAT), dtype=np.float64)
        self.split[part] += 1
        self.per_image.append(len(sample.instances))
        self.empty_images += not sample.instances
        seen = set()
        for inst in sample.instances:
            self.instances[inst.class_id] += 1
            self.pixels[inst.class_id] += inst.area
            seen.add(inst.class_id)
            small = Image.fromarray(inst.mask.astype(np.uint8) * 255).resize(HEAT[::-1], Image.BILINEAR)
            self.heat[inst.class_id] += np.asarray(small, dtype=np.float64) / 255.0
        for c in seen:
            self.images_with[c] += 1
        if sample.instances:
            self.total_pixels += sample.instances[0].mask.size
        self.fine_pixels.update(sample.fine_pixels)
        self.fine_images.update(sample.fine_pixels.keys())


def build(source: str, root: Path, out: Path, split_file: Path, grouping: Grouping,
          min_area: int = DEFAULT_MIN_AREA, coco_json: Path | None = None,
          seed: int = 0) -> tuple[Path, Stats, Dropped]:
    """Write out/{images,labels}/{train,val} and out/data.yaml; returns data.yaml, the stats and the drops."""
    dropped = Dropped()
    samples = list(read(source, root, grouping, min_area, dropped, coco_json))
    if not samples:
        raise ValueError(f"no annotated images found under {root} for source {source!r}")
    split = fixed_split([s.stem for s in samples], split_file, seed)
    for stale in ("images", "labels"):  # a previous conversion (and ultralytics' label caches) never mix in
        shutil.rmtree(out / stale, ignore_errors=True)
    stats = Stats(grouping.groups)
    for sample in samples:
        part = split[sample.stem]
        (out / "images" / part).mkdir(parents=True, exist_ok=True)
        (out / "labels" / part).mkdir(parents=True, exist_ok=True)
        link = out / "images" / part / sample.image.name
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(sample.image.resolve(), link)
        lines = [line for line in (yolo_line(i) for i in sample.instances) if line]
        (out / "labels" / part / f"{sample.stem}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
        stats.add(sample, part)
    data = out / "data.yaml"
    data.write_text(yaml.safe_dump({"path": str(out.resolve()), "train": "images/train", "val": "images/val",
                                    "names": dict(enumerate(grouping.groups))}, sort_keys=False))
    return data, stats, dropped

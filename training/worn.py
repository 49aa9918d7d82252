"""Worn clothes for the attribute model: the street photos (Clothing Co-Parsing) as training rows beside the product
shots, cut exactly as the served pipeline cuts them.

- Each photo: its whole-image input (scene "worn"; the person's gender from reports/street_gender.csv).
- Each labelled garment (a parsing class with an articleType family in fashion/worn/worn_families.yaml, at least
  MIN_AREA pixels): its masked crop made by fashion.stages.preprocess.model_pixels, the function serving uses (pixels
  outside the mask set to the model's mean colour), with the family as its articleType target and the person's
  gender. Photos whose gender row is marked uncertain keep their garments' families but train no gender.
- The split is fixed (reports/worn_split.csv): `val` is the segmenter's validation split (never trained on by
  any model: every worn figure is measured there), `calib` 150 of the segmenter's training photos (thresholds are
  calibrated there, never trained on), `train` the rest.
"""
from __future__ import annotations

import concurrent.futures
import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fashion.request.decode import decode_image
from fashion.manifest import InputSpec
from fashion.stages.preprocess import model_pixels
from fashion.results import Garment
from fashion.worn.worn_families import Families
from training.labels import IGNORE

STREET = Path("../shared/data/street_photos")
GENDER_CSV = Path("reports/street_gender.csv")
SEGMENTER_SPLIT = Path("reports/segmenter_split.csv")
WORN_SPLIT = Path("reports/worn_split.csv")
SCENES = ["product", "worn"]
MIN_AREA = 600  # pixels of a ~550 x 830 photo
CALIB_PHOTOS = 150


@dataclasses.dataclass
class WornData:
    stems: list[str]  # per row: its photo
    kinds: list[str]  # "photo" | a parsing class (a garment crop)
    parts: np.ndarray  # "train" | "calib" | "val"
    pixels: torch.Tensor  # uint8 (N, 3, S, S)
    gender: torch.Tensor  # long (N,): index in the gender vocabulary, IGNORE when unknown or uncertain
    person_gender: list[str]  # per row: the label (Women/Men) whatever its certainty
    uncertain: list[bool]
    families: torch.Tensor  # bool (N, articleTypes): the row's family; all False for photo rows

    def rows(self, part: str, kind: str | None = None) -> torch.Tensor:
        keep = self.parts == part
        if kind == "photo":
            keep &= np.array([k == "photo" for k in self.kinds])
        elif kind == "garment":
            keep &= np.array([k != "photo" for k in self.kinds])
        return torch.from_numpy(np.flatnonzero(keep))


def worn_split(segmenter_split: Path = SEGMENTER_SPLIT, out: Path = WORN_SPLIT, seed: int = 0) -> dict[str, str]:
    """The fixed split: read from `out` when it exists, else drawn once (seed) from the segmenter's and written."""
    if out.is_file():
        with open(out, newline="") as f:
            return {r["id"]: r["split"] for r in csv.DictReader(f)}
    with open(segmenter_split, newline="") as f:
        seg = {r["id"]: r["split"] for r in csv.DictReader(f)}
    train = sorted(s for s, p in seg.items() if p == "train")
    calib = set(np.random.default_rng(seed).choice(train, size=CALIB_PHOTOS, replace=False).tolist())
    split = {s: "val" if p == "val" else "calib" if s in calib else "train" for s, p in sorted(seg.items())}
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "split"])
        w.writerows(split.items())
    return split


def read_gender(path: Path = GENDER_CSV) -> dict[str, tuple[str, bool]]:
    with open(path, newline="") as f:
        return {r["photo"]: (r["gender"], r["uncertain"] == "1") for r in csv.DictReader(f)}


def labelled_garments(label_map: np.ndarray, names: list[str], families: Families) -> list[Garment]:
    """One garment per parsing class with a family and at least MIN_AREA pixels: its mask and box."""
    out = []
    for value in np.unique(label_map):
        name = names[value] if value < len(names) else None
        if name not in families.fine:
            continue
        mask = label_map == value
        if mask.sum() < MIN_AREA:
            continue
        ys, xs = np.nonzero(mask)
        box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
        out.append(Garment(name, int(value), 1.0, box, _mask=mask))
    return out


def _photo_rows(stem: str, root: Path, names: list[str], families: Families,
                spec: InputSpec) -> tuple[list[str], torch.Tensor]:
    image = decode_image((root / "photos" / f"{stem}.jpg").read_bytes())
    label_map = np.asarray(Image.open(root / "labels" / f"{stem}.png"))
    garments = labelled_garments(label_map, names, families)
    return ["photo", *(g.label for g in garments)], model_pixels(image, spec, garments)


def build_worn(spec: InputSpec, families: Families, article_types: list[str], genders: list[str],
               root: Path = STREET, gender_csv: Path = GENDER_CSV, split: dict[str, str] | None = None,
               limit: int | None = None, workers: int = 2) -> WornData:
    """Every street photo's rows (its whole image, then its labelled garments), as served."""
    families.check(article_types)
    names = json.loads((root / "label_list.json").read_text())
    split = split or worn_split()
    people = read_gender(gender_csv)
    stems = sorted(split)[:limit] if limit else sorted(split)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        built = list(pool.map(lambda s: _photo_rows(s, root, names, families, spec), stems))
    row_stems, kinds, pixels = [], [], []
    for stem, (row_kinds, row_pixels) in zip(stems, built):
        row_stems += [stem] * len(row_kinds)
        kinds += row_kinds
        pixels.append(row_pixels)
    column = {a: i for i, a in enumerate(article_types)}
    family = torch.zeros(len(kinds), len(article_types), dtype=torch.bool)
    for i, kind in enumerate(kinds):
        for member in families.fine.get(kind, ()):
            family[i, column[member]] = True
    person = [people[s][0] for s in row_stems]
    unsure = [people[s][1] for s in row_stems]
    gender = torch.tensor([IGNORE if u else genders.index(g) for g, u in zip(person, unsure)], dtype=torch.long)
    return WornData(row_stems, kinds, np.array([split[s] for s in row_stems]), torch.cat(pixels), gender, person,
                    unsure, family)

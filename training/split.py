"""A seeded, stratified 70/10/20 split, written to a CSV so a run can be checked and reproduced."""
from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

FRACTIONS = (0.7, 0.1, 0.2)
PARTS = ("train", "val", "test")


def stratified_split(strata: list[int], seed: int, fractions: tuple[float, float, float] = FRACTIONS) -> np.ndarray:
    """'train' / 'val' / 'test' per row, stratified by `strata` where every stratum is large enough."""
    idx = np.arange(len(strata))
    y = np.asarray(strata)
    test_size = fractions[2]
    val_size = fractions[1] / (fractions[0] + fractions[1])
    rest, test = train_test_split(idx, test_size=test_size, random_state=seed, stratify=_stratify(y))
    train, val = train_test_split(rest, test_size=val_size, random_state=seed, stratify=_stratify(y[rest]))
    out = np.empty(len(strata), dtype=object)
    out[train], out[val], out[test] = "train", "val", "test"
    return out


def _stratify(y: np.ndarray) -> np.ndarray | None:
    """Strata with fewer than 5 rows (tiny runs) are pooled so sklearn can still stratify the rest."""
    values, counts = np.unique(y, return_counts=True)
    small = set(values[counts < 5].tolist())
    pooled = np.array([-2 if v in small else v for v in y])
    return pooled if np.unique(pooled, return_counts=True)[1].min() >= 2 else None


def write_split(path: Path, ids: list[str], parts: np.ndarray) -> str:
    """Write id,split rows; returns the file's sha256 (recorded in the report)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "split"])
        w.writerows(zip(ids, parts))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def split_sha256(ids: list[str], parts: np.ndarray) -> str:
    """The sha256 write_split would return for these rows, without writing a file (a run's split fingerprint)."""
    text = io.StringIO(newline="")
    w = csv.writer(text)
    w.writerow(["id", "split"])
    w.writerows(zip(ids, parts))
    return hashlib.sha256(text.getvalue().encode()).hexdigest()


def read_split(path: Path) -> dict[str, str]:
    with open(path, newline="") as f:
        return {row["id"]: row["split"] for row in csv.DictReader(f)}

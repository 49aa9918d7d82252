"""What several commands share: the catalogue flags and the figure comparison of the `evaluate*` commands."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger("training")
DATA = Path("../shared/data/fashion_products")
TOLERANCE = 1e-3  # figures are rounded to 4 decimals; `evaluate` must agree within this


def data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--csv", type=Path, default=DATA / "styles.csv", help="styles.csv (Fashion Product Images layout)")
    p.add_argument("--images", type=Path, default=DATA / "images", help="folder of <id>.jpg product photos")


def compare(a, b, path: str = ""):
    """(path, stored, recomputed) for every number that differs by more than TOLERANCE."""
    if isinstance(a, dict):
        for k in a:
            yield from compare(a[k], b.get(k) if isinstance(b, dict) else None, f"{path}/{k}")
    elif isinstance(a, (int, float)) and not isinstance(a, bool):
        if not isinstance(b, (int, float)) or abs(a - b) > TOLERANCE:
            yield path, a, b

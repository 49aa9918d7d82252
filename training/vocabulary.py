"""Attribute vocabularies and the articleType -> master/sub category mapping, from a styles.csv.

`python -m training.vocabulary styles.csv > export/vocabulary.json` regenerates the default file that export
uses when no trained attribute checkpoint is given (the zero-shot vocabularies of a fresh install). The rules
are the training's (training.labels): missing labels skipped, rare classes merged into 'Other'.
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

from training.catalogue import HEADS, Record, clean
from training.labels import category_mapping, vocabularies


def from_styles_csv(path: str | Path, min_count: int = 50) -> dict[str, Any]:
    """Every row of the CSV counts (no images needed)."""
    with open(path, newline="", encoding="utf-8") as f:
        records = [Record(row.get("id") or "", Path(), {h: clean(row.get(h)) for h in HEADS},
                          clean(row.get("masterCategory")), clean(row.get("subCategory")))
                   for row in csv.DictReader(f)]
    heads = vocabularies(records, min_count)
    return {"min_count": min_count, "heads": heads, "mapping": category_mapping(records, heads["articleType"])}


if __name__ == "__main__":
    print(json.dumps(from_styles_csv(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 50), indent=1))

"""Attribute vocabularies and the articleType -> master/sub category mapping, from a styles.csv.

`python -m export.vocabulary styles.csv > export/vocabulary.json` regenerates the default file that
export uses when no trained attribute checkpoint is given.
"""
from __future__ import annotations

import collections
import csv
import json
import sys
from pathlib import Path
from typing import Any

HEADS = ("gender", "articleType", "baseColour", "season", "usage")
MISSING = {"", "NA", "nan", "None"}
OTHER = "Other"
DEFAULT_PATH = Path(__file__).with_name("vocabulary.json")


def from_styles_csv(path: str | Path, min_count: int = 50) -> dict[str, Any]:
    """Classes with fewer than `min_count` labelled rows merge into 'Other'; missing labels are skipped."""
    counts = {h: collections.Counter() for h in HEADS}
    mapping: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            for h in HEADS:
                value = (row.get(h) or "").strip()
                if value not in MISSING:
                    counts[h][value] += 1
            article = (row.get("articleType") or "").strip()
            if article not in MISSING:
                mapping[article][(row.get("masterCategory", "").strip(), row.get("subCategory", "").strip())] += 1
    heads = {}
    for h in HEADS:
        kept = sorted(c for c, n in counts[h].items() if n >= min_count)
        if any(n < min_count for n in counts[h].values()):
            kept.append(OTHER)
        heads[h] = kept
    top = {a: c.most_common(1)[0][0] for a, c in mapping.items()}
    return {"min_count": min_count, "heads": heads,
            "mapping": {a: {"masterCategory": m, "subCategory": s} for a, (m, s) in sorted(top.items())
                        if a in heads["articleType"]}}


def load_default() -> dict[str, Any]:
    return json.loads(DEFAULT_PATH.read_text())


if __name__ == "__main__":
    print(json.dumps(from_styles_csv(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 50), indent=1))

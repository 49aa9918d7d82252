"""read: a styles.csv in the Fashion Product Images layout + an image folder -> clean records and a problem log.

Bad rows never stop a run: a row with missing columns, an id without an image or an unreadable image is
counted, a few examples are kept for the report, and the row is skipped.
"""
from __future__ import annotations

import collections
import csv
import dataclasses
from pathlib import Path

HEADS = ("gender", "articleType", "baseColour", "season", "usage")
COLUMNS = ("id", *HEADS, "masterCategory", "subCategory")
MISSING = frozenset({"", "NA", "N/A", "nan", "NaN", "None", "null"})
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
EXAMPLES_KEPT = 5


class CatalogueError(ValueError):
    """The CSV cannot be used at all (not found, or a required column is absent from its header)."""


def clean(value: str | None) -> str | None:
    """A label, or None where the catalogue has none (empty, 'NA', ...): a missing label, never a class."""
    value = (value or "").strip()
    return None if value in MISSING else value


@dataclasses.dataclass(frozen=True)
class Record:
    id: str
    image: Path
    labels: dict[str, str | None]  # head -> label, None where missing
    master: str | None
    sub: str | None
    name: str | None = None  # productDisplayName, where the CSV has that column (the embedder's captions)

    def label(self, head: str) -> str | None:
        """A head's label: one of HEADS, or the catalogue's subCategory / masterCategory; None where missing."""
        return {"subCategory": self.sub, "masterCategory": self.master}.get(head, self.labels.get(head))


@dataclasses.dataclass
class Problems:
    """Rows skipped, by reason, with a few example rows each."""
    counts: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    examples: dict[str, list[str]] = dataclasses.field(default_factory=lambda: collections.defaultdict(list))

    def add(self, reason: str, example: str) -> None:
        self.counts[reason] += 1
        if len(self.examples[reason]) < EXAMPLES_KEPT:
            self.examples[reason].append(example)

    def to_dict(self) -> dict:
        return {reason: {"rows": n, "examples": self.examples[reason]} for reason, n in sorted(self.counts.items())}


def _image_index(images: Path) -> dict[str, Path]:
    return {p.stem: p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}


def read_catalogue(csv_path: str | Path, images: str | Path, limit: int | None = None) -> tuple[list[Record], Problems]:
    """Rows that have an image and at least one label; `limit` keeps the first N usable rows (tests, smoke runs)."""
    csv_path, images = Path(csv_path), Path(images)
    if not csv_path.is_file():
        raise CatalogueError(f"catalogue CSV {csv_path} not found")
    if not images.is_dir():
        raise CatalogueError(f"image folder {images} not found")
    index, problems, records, seen = _image_index(images), Problems(), [], set()
    with open(csv_path, newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.DictReader(f)
        absent = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if absent:
            raise CatalogueError(f"{csv_path} lacks the column(s) {absent}; expected the Fashion Product Images "
                                 f"layout: {', '.join(COLUMNS)}, year, productDisplayName")
        for line, row in enumerate(reader, start=2):
            if limit is not None and len(records) >= limit:
                break
            rid = (row.get("id") or "").strip()
            if None in row or any(row.get(c) is None for c in COLUMNS):  # too many or too few fields
                problems.add("wrong number of columns", f"line {line}")
                continue
            if not rid:
                problems.add("no id", f"line {line}")
                continue
            if rid in seen:
                problems.add("duplicate id", f"line {line}: {rid}")
                continue
            if rid not in index:
                problems.add("no image for id", rid)
                continue
            labels = {h: clean(row[h]) for h in HEADS}
            if all(v is None for v in labels.values()):
                problems.add("no labels", rid)
                continue
            seen.add(rid)
            records.append(Record(rid, index[rid], labels, clean(row["masterCategory"]), clean(row["subCategory"]),
                                  clean(row.get("productDisplayName"))))
    return records, problems

"""Integration fixtures: a tiny real catalogue (with bad rows) for the training tests."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.conftest import PRODUCTS

ROWS = 90


@pytest.fixture(scope="session")
def catalogue(tmp_path_factory) -> tuple[Path, Path]:
    """A styles.csv of ROWS real products plus three bad rows, and a folder linking to their real images
    (never copied) plus one unreadable image."""
    root = tmp_path_factory.mktemp("catalogue")
    images = root / "images"
    images.mkdir()
    with open(PRODUCTS.parent / "styles.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, [r for r in reader if (PRODUCTS / f"{r['id']}.jpg").is_file()][:ROWS]
    for r in rows:
        (images / f"{r['id']}.jpg").symlink_to(PRODUCTS / f"{r['id']}.jpg")
    (images / "90000001.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    path = root / "styles.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        f.write(",".join(fields) + "\n")
        w = csv.DictWriter(f, fields)
        w.writerows(rows)
        f.write("90000000,Men,Apparel\n")  # missing columns
        w.writerow({**rows[0], "id": "90000002"})  # an id without an image
        w.writerow({**rows[0], "id": "90000001"})  # an unreadable image
    return path, images

"""Shared fixtures: real photos from ../shared/data, the built artifacts, schema."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("YOLO_AUTOINSTALL", "false")  # ultralytics must never pip-install during tests
os.environ.setdefault("YOLO_OFFLINE", "true")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
STREET = SHARED / "data" / "street_photos" / "photos"
PRODUCTS = SHARED / "data" / "fashion_products" / "images"
EXPORT_DIR = ROOT / "build" / "export"
STORE = ROOT / "model_store"


def pytest_collection_modifyitems(items):
    for item in items:
        for marker in ("unit", "integration", "e2e", "image"):
            if f"/tests/{marker}/" in str(item.fspath):
                item.add_marker(getattr(pytest.mark, marker))


def _spread(folder: Path, n: int) -> list[Path]:
    """n real photos spread evenly over a folder of ../shared/data."""
    photos = sorted(folder.glob("*.jpg"))
    if not photos:
        pytest.fail(f"no real photos in {folder}; tests read them from ../shared/data")
    return photos[:: max(1, len(photos) // n)][:n]


@pytest.fixture(scope="session")
def street_photos() -> list[Path]:
    return _spread(STREET, 12)


@pytest.fixture(scope="session")
def product_photos() -> list[Path]:
    return _spread(PRODUCTS, 8)


@pytest.fixture(scope="session")
def response_schema() -> dict:
    from fashion.schema import response_schema as composed

    return composed()


@pytest.fixture(scope="session")
def export_dir() -> Path:
    if not (EXPORT_DIR / "segmenter.json").is_file():
        pytest.fail(f"{EXPORT_DIR} has no exported models: run `make archives` (make test does)")
    return EXPORT_DIR

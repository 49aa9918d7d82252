"""python -m training.contact_sheets: photos tiled into numbered contact sheets, for labelling by eye.

Used to label the street photos' people by gender (reports/street_gender.csv): each tile shows one photo with its
file name; a person reads a sheet and writes one row per photo. Sheets are build outputs, never committed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw

DEFAULT_PHOTOS = Path("../shared/data/street_photos/photos")


def contact_sheets(photos: list[Path], out: Path, columns: int = 10, rows: int = 4,
                   tile: tuple[int, int] = (150, 226)) -> list[Path]:
    """Write sheets of columns x rows tiles (each photo fitted into `tile`, its stem printed above it)."""
    out.mkdir(parents=True, exist_ok=True)
    per_sheet, written = columns * rows, []
    label_h = 14
    for start in range(0, len(photos), per_sheet):
        sheet = Image.new("RGB", (columns * tile[0], rows * (tile[1] + label_h)), "white")
        draw = ImageDraw.Draw(sheet)
        for i, path in enumerate(photos[start:start + per_sheet]):
            x, y = (i % columns) * tile[0], (i // columns) * (tile[1] + label_h)
            with Image.open(path) as photo:
                photo = photo.convert("RGB")
                photo.thumbnail(tile)
                sheet.paste(photo, (x + (tile[0] - photo.width) // 2, y + label_h))
            draw.text((x + 4, y + 1), path.stem, fill="black")
        name = out / f"sheet_{photos[start].stem}-{photos[min(start + per_sheet, len(photos)) - 1].stem}.png"
        sheet.save(name)
        written.append(name)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.contact_sheets", description=__doc__)
    p.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    p.add_argument("--out", type=Path, default=Path("build/contact_sheets"))
    p.add_argument("--columns", type=int, default=10)
    p.add_argument("--rows", type=int, default=4)
    args = p.parse_args(argv)
    sheets = contact_sheets(sorted(args.photos.glob("*.jpg")), args.out, args.columns, args.rows)
    print(f"{len(sheets)} sheets in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

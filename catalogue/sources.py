"""decode: a catalogue source -> records (an id and where its image is), in a stable order.

A source is a folder of images (ids are paths relative to it, without the extension), a CSV or Parquet table
with an id column and a path, URL or URI column (relative paths are relative to the table's folder; `gs://` and
`s3://` URIs are read through fsspec, with gcsfs / s3fs installed), or a JSONL file
of instances ({"id": ..., "b64" | "url" | "path": ...} per line; ids default to the line number).
"""
from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Iterator

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
PATH_COLUMNS = ("path", "image", "image_path", "file", "url", "image_url", "link")


class SourceError(ValueError):
    """The source itself cannot be read (a missing column, a duplicate id, an unknown kind)."""


@dataclasses.dataclass(frozen=True)
class Record:
    id: str
    source: str  # a file path, a URL, or "jsonl:LINE" for inline bytes
    data: bytes | None = None  # inline image bytes (JSONL b64)

    @property
    def is_url(self) -> bool:
        return self.source.startswith(("http://", "https://"))

    @property
    def is_uri(self) -> bool:
        """An fsspec URI (gs://, s3://, ...): read through fsspec, with that store's package installed."""
        return "://" in self.source and not self.is_url


def _folder(root: Path) -> Iterator[Record]:
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
        yield Record(path.relative_to(root).with_suffix("").as_posix(), str(path))


def _locator(value: str, base: Path) -> str:
    value = value.strip()
    if "://" in value or Path(value).is_absolute():  # a URL, an fsspec URI (gs://, s3://), an absolute path
        return value
    return str(base / value)


def _table(path: Path, id_column: str, path_column: str | None) -> Iterator[Record]:
    import pyarrow.csv
    import pyarrow.parquet

    table = (pyarrow.parquet.read_table(path) if path.suffix.lower() == ".parquet"
             else pyarrow.csv.read_csv(path, convert_options=pyarrow.csv.ConvertOptions(
                 column_types={id_column: pyarrow.string()})))
    columns = table.column_names
    if id_column not in columns:
        raise SourceError(f"{path}: no id column {id_column!r} (columns: {columns}); pass --id-column")
    column = path_column or next((c for c in PATH_COLUMNS if c in columns), None)
    if column is None or column not in columns:
        raise SourceError(f"{path}: no image path or URL column (looked for {list(PATH_COLUMNS)}); "
                          "pass --path-column")
    for rid, loc in zip(table[id_column].to_pylist(), table[column].to_pylist()):
        if rid is None or loc is None:
            raise SourceError(f"{path}: a row has no {id_column!r} or {column!r}")
        yield Record(str(rid), _locator(str(loc), path.parent))


def _jsonl(path: Path) -> Iterator[Record]:
    with path.open() as lines:
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise SourceError(f"{path}:{n}: not JSON ({exc})") from None
            rid = str(obj.get("id", n)) if isinstance(obj, dict) else str(n)
            if isinstance(obj, dict) and "b64" in obj:
                try:
                    yield Record(rid, f"jsonl:{n}", base64.b64decode(obj["b64"], validate=True))
                except (ValueError, TypeError):
                    yield Record(rid, f"jsonl:{n}", b"")  # refused when it is sent: not an image
            elif isinstance(obj, dict) and isinstance(obj.get("url") or obj.get("path"), str):
                yield Record(rid, _locator(obj.get("url") or obj["path"], path.parent))
            else:
                raise SourceError(f'{path}:{n}: each line needs "b64", "url" or "path"')


def read_source(src: Path, id_column: str = "id", path_column: str | None = None) -> list[Record]:
    """Every record of the source; ids must be unique (they key the output and resuming)."""
    src = Path(src)
    if src.is_dir():
        records = list(_folder(src))
    elif src.suffix.lower() in (".csv", ".parquet"):
        records = list(_table(src, id_column, path_column))
    elif src.suffix.lower() in (".jsonl", ".ndjson"):
        records = list(_jsonl(src))
    elif not src.exists():
        raise SourceError(f"{src} does not exist")
    else:
        raise SourceError(f"{src}: a source is a folder of images, a .csv/.parquet table or a .jsonl file")
    seen: set[str] = set()
    for r in records:
        if r.id in seen:
            raise SourceError(f"{src}: id {r.id!r} appears more than once; ids key the output and resuming")
        seen.add(r.id)
    return records

"""The Ray engine's output: DEST as a folder of Parquet parts, each named after the ids it holds.

Each actor call of the Ray job (catalogue.ray_engine) writes the rows of its records as ONE part,
`part-<sha1 of its sorted ids>.parquet`, written to a temporary name beside it and then renamed, so a part is
either whole or absent. A rerun (after a kill, a lost node, or a finished job) reads the ids already in DEST's
parts and sends only the others; a task Ray retries writes the same records to the same name again. Every id is
therefore in exactly one part. DEST may be a local folder or a `gs://` / `s3://` URI (pyarrow's filesystems).
"""
from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from catalogue.rows import schema

PART_GLOB_PREFIX, PART_SUFFIX = "part-", ".parquet"


def uri(dest: str) -> str:
    """DEST as pyarrow's filesystems take it: a URI as it is, a local path made absolute."""
    return dest if "://" in dest else str(Path(dest).resolve())


def part_name(ids: list[str]) -> str:
    """The part's file name: a digest of its ids, so the same records always land in the same file."""
    return PART_GLOB_PREFIX + hashlib.sha1("\n".join(sorted(ids)).encode()).hexdigest()[:20] + PART_SUFFIX


class Parts:
    """DEST's parts: which ids are done, writing a part atomically, reading every row once."""

    def __init__(self, dest: str) -> None:
        self.fs, self.root = pafs.FileSystem.from_uri(uri(dest))
        info = self.fs.get_file_info(self.root)
        if info.type == pafs.FileType.File:
            raise ValueError(f"{dest} is a file; the Ray engine writes a folder of Parquet parts "
                             "(give another --out, or use the http/local engine for a single file)")
        self.fs.create_dir(self.root, recursive=True)

    def files(self) -> list[str]:
        selector = pafs.FileSelector(self.root, allow_not_found=True)
        return sorted(f.path for f in self.fs.get_file_info(selector) if f.type == pafs.FileType.File
                      and f.base_name.startswith(PART_GLOB_PREFIX) and f.base_name.endswith(PART_SUFFIX))

    def done(self) -> set[str]:
        """Every id already written."""
        return {i for f in self.files() for i in pq.read_table(f, columns=["id"], filesystem=self.fs)["id"]
                .to_pylist()}

    def write(self, rows: list[dict[str, Any]], dim: int) -> str:
        """One part of these rows (embeddings of `dim` floats); returns its path."""
        final = f"{self.root}/{part_name([r['id'] for r in rows])}"
        tmp = f"{self.root}/.tmp-{uuid.uuid4().hex}{PART_SUFFIX}"
        pq.write_table(pa.Table.from_pylist(rows, schema=schema(dim)), tmp, filesystem=self.fs)
        self.fs.move(tmp, final)
        return final

    def rows(self) -> list[dict[str, Any]]:
        """Every row, each id once (in part order)."""
        out, seen = [], set()
        for f in self.files():
            for row in pq.read_table(f, filesystem=self.fs).to_pylist():
                if row["id"] not in seen:
                    seen.add(row["id"])
                    out.append(row)
        return out


"""The output of an enrichment: a journal while the job runs, Parquet (or JSONL) when it ends.

Every answered or refused image is appended to DEST's journal (DEST.journal.jsonl, one JSON row per line,
flushed and fsynced per batch) before the job moves on, so an interruption (Ctrl-C, kill -9, a restarted server)
loses at most the requests in flight, and a torn last line is dropped on resume. The ids already in DEST and in
the journal are skipped on the next run; the job ends by rewriting DEST with the old rows and the journal's
(atomically: a temporary file renamed over it), then deletes the journal.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from catalogue.rows import embedding_dim, schema

FORMATS = ("parquet", "jsonl")


def output_format(dest: Path, explicit: str | None = None) -> str:
    fmt = explicit or ("jsonl" if dest.suffix.lower() in (".jsonl", ".ndjson") else "parquet")
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; one of {list(FORMATS)}")
    return fmt


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Every row of an enrichment output: a Parquet or JSONL file, or the Ray engine's folder of parts."""
    if "://" in str(path) or Path(path).is_dir():  # the Ray engine's folder of parts (catalogue.parts)
        from catalogue.parts import Parts

        return Parts(str(path)).rows()
    path = Path(path)
    if not path.exists():
        return []
    if output_format(path) == "parquet":
        return pq.read_table(path).to_pylist()
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Journal:
    """Rows written so far for DEST; `done` holds every id already recorded (in DEST or the journal)."""

    def __init__(self, dest: Path, fmt: str | None = None) -> None:
        self.dest, self.fmt = Path(dest), output_format(Path(dest), fmt)
        self.path = self.dest.with_name(self.dest.name + ".journal.jsonl")
        self.previous = read_rows(self.dest)
        self.rows = self._recover()
        self.done = {r["id"] for r in self.previous} | {r["id"] for r in self.rows}
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a")

    def _recover(self) -> list[dict[str, Any]]:
        """The journal's complete lines; a torn last line (the process died mid-write) is cut off the file."""
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        keep = data[:data.rfind(b"\n") + 1]
        if len(keep) != len(data):
            with self.path.open("r+b") as f:
                f.truncate(len(keep))
        rows, seen = [], set()
        for line in keep.splitlines():
            row = json.loads(line)
            if row["id"] not in seen:
                seen.add(row["id"])
                rows.append(row)
        return rows

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            if row["id"] in self.done:
                continue
            self._file.write(json.dumps(row, separators=(",", ":")) + "\n")
            self.rows.append(row)
            self.done.add(row["id"])
        self._file.flush()
        os.fsync(self._file.fileno())

    def finish(self) -> Path:
        """DEST = the previous rows + the journal's, written atomically; the journal is removed."""
        self._file.close()
        rows = self.previous + self.rows
        tmp = self.dest.with_name(self.dest.name + ".tmp")
        if self.fmt == "parquet":
            pq.write_table(pa.Table.from_pylist(rows, schema=schema(embedding_dim(rows))), tmp)
        else:
            tmp.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows))
        os.replace(tmp, self.dest)
        self.path.unlink(missing_ok=True)
        return self.dest

    def close(self) -> None:
        self._file.close()

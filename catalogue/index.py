"""The similarity index of an enriched catalogue: whole-image and garment embeddings in faiss.

Two indexes in one folder (images.faiss, garments.faiss) with their entries (entries-*.parquet: product id,
garment number, label, box and the product's catalogue fields), sources.parquet (each product's image: the
enriched row's `source`, a local path made absolute, a URL or an fsspec URI; the page's thumbnails are read from
there and from nowhere else) and index.json (kind, count, embedder). Vectors
are L2-normalised, so inner product = cosine. Up to EXACT_MAX vectors an index is exact (IndexFlatIP); past it,
HNSW (IndexHNSWFlat, M=HNSW_M), which answers in well under a millisecond at 1M vectors with recall@10 >= 0.95
at EF_SEARCH (bench.index_search measures both). Adding rows to an existing index skips ids it already holds;
an exact index that grows past EXACT_MAX is rebuilt as HNSW from its own vectors.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Iterable

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from catalogue.filters import FIELDS, GARMENT_FIELDS, PRODUCT_FIELDS, Column, Where

EXACT_MAX = 20_000  # exact search is ~1.2 ms at 20k, ~10 ms at 100k on 2 cores (bench.index_search)
HNSW_M, EF_CONSTRUCTION, EF_SEARCH = 32, 80, 128
SCOPES = ("images", "garments")
# a filter keeping at most this many entries: exact search over them (bench.filtered_search: ~12 ms at 32k of 1M;
# HNSW restricted to a 3 % filter that follows the vectors' clusters found 0.29 of the true top 10)
FILTER_EXACT_MAX = 50_000
FILTER_GATHER_MAX = 8_000  # up to it, exact by gathering the kept vectors; past it, a flat scan with an ID bitmap
MASK_CACHE = 32  # filters whose kept entries are remembered (a page reuses its chips)
FILTER_EF_MAX = 1024  # past it, HNSW restricted to the kept entries, efSearch raised as the filter narrows
ENTRY_FIELDS = ("id", "garment", "label", "box", *PRODUCT_FIELDS, "productDisplayName", *GARMENT_FIELDS)
SOURCES = "sources.parquet"
_ENTRY_TYPES = {"garment": pa.int32(), "box": pa.list_(pa.float32())}


class IndexRefused(ValueError):
    """An index that cannot take these rows or answer this query (another embedder, another dimension)."""


def normalised(vectors: np.ndarray) -> np.ndarray:
    v = np.ascontiguousarray(vectors, dtype=np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def new_index(dim: int, count: int) -> faiss.Index:
    """Exact up to EXACT_MAX vectors, else HNSW."""
    if count <= EXACT_MAX:
        return faiss.IndexFlatIP(dim)
    index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = EF_CONSTRUCTION
    index.hnsw.efSearch = EF_SEARCH
    return index


def kind(index: faiss.Index) -> str:
    return "hnsw" if isinstance(index, faiss.IndexHNSW) else "exact"


def vectors_of(rows: Iterable[dict[str, Any]]) -> dict[str, tuple[list[np.ndarray], list[dict[str, Any]]]]:
    """The answered rows' vectors and entries, per scope."""
    out: dict[str, tuple[list[np.ndarray], list[dict[str, Any]]]] = {s: ([], []) for s in SCOPES}
    for row in rows:
        if row.get("status") != "ok" or row.get("embedding") is None:
            continue
        product = {f: row.get(f) for f in (*PRODUCT_FIELDS, "productDisplayName")}
        none = {f: None for f in GARMENT_FIELDS}
        out["images"][0].append(np.asarray(row["embedding"], np.float32))
        out["images"][1].append({"id": row["id"], "garment": -1, "label": None, "box": None, **product, **none})
        for n, g in enumerate(row.get("garments") or []):
            if g.get("embedding") is not None:
                own = {f: g.get(f"metadata_{f.removeprefix('garment.')}") for f in GARMENT_FIELDS}
                out["garments"][0].append(np.asarray(g["embedding"], np.float32))
                out["garments"][1].append({"id": row["id"], "garment": n, "label": g["label"],
                                           "box": [float(x) for x in g["box"]], **product, **own})
    return out


@dataclasses.dataclass
class Part:
    """One scope's index and its entries (entry i = vector i)."""
    index: faiss.Index
    entries: list[dict[str, Any]]
    _columns: dict[str, Column] | None = None  # the entries' filterable fields, made on the first filter
    _kept: dict[tuple, np.ndarray] | None = None

    def columns(self) -> dict[str, Column]:
        if self._columns is None:
            self._columns = {f: Column.of([e.get(f) for e in self.entries]) for f in FIELDS}
        return self._columns

    def kept(self, where: Where) -> tuple[np.ndarray, np.ndarray]:
        """The entry numbers a filter keeps and the same as a bitmap (packed, little-endian bits: faiss's
        IDSelectorBitmap), remembered for the last MASK_CACHE filters."""
        cache = self._kept if self._kept is not None else {}
        if where.conditions not in cache:
            if len(cache) >= MASK_CACHE:
                cache.pop(next(iter(cache)))
            mask = where.mask(self.columns(), len(self.entries))
            cache[where.conditions] = (np.flatnonzero(mask), np.packbits(mask, bitorder="little"))
        self._kept = cache
        return cache[where.conditions]

    def flat(self) -> faiss.IndexFlat:
        """The flat index holding the vectors: the index itself, or an HNSW index's storage."""
        return self.index if isinstance(self.index, faiss.IndexFlat) else faiss.downcast_index(self.index.storage)

    def vectors(self) -> np.ndarray:
        """The stored (normalised) vectors, without a copy: a flat index's, or an HNSW index's flat storage."""
        flat = self.flat()
        return faiss.rev_swig_ptr(flat.get_xb(), flat.ntotal * flat.d).reshape(flat.ntotal, flat.d)

    def search(self, query: np.ndarray, want: int, where: Where | None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, entry numbers) of the `want` best entries the filter keeps (all without one)."""
        if where is None:
            scores, idx = self.index.search(query, want)
            return scores[0], idx[0]
        kept, bits = self.kept(where)  # `bits` stays referenced until the search is done: faiss reads it
        if not len(kept):
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        if len(kept) <= FILTER_GATHER_MAX:  # few: their vectors gathered and scored
            scores = self.vectors()[kept] @ query[0]
            top = np.argsort(-scores)[:want]
            return scores[top], kept[top]
        selector = faiss.IDSelectorBitmap(len(self.entries), faiss.swig_ptr(bits))
        if len(kept) <= FILTER_EXACT_MAX or not isinstance(self.index, faiss.IndexHNSW):  # exact, no copy
            scores, idx = self.flat().search(query, want, params=faiss.SearchParameters(sel=selector))
        else:
            ef = int(min(FILTER_EF_MAX, max(EF_SEARCH, EF_SEARCH * len(self.entries) / len(kept) / 4, want)))
            scores, idx = self.index.search(query, want, params=faiss.SearchParametersHNSW(sel=selector, efSearch=ef))
        found = idx[0] >= 0  # fewer than `want` found: the rest are -1
        return scores[0][found], idx[0][found]

    def add(self, vectors: np.ndarray, entries: list[dict[str, Any]]) -> None:
        if not len(entries):
            return
        self._columns = self._kept = None
        total = self.index.ntotal + len(entries)
        if isinstance(self.index, faiss.IndexFlat) and total > EXACT_MAX:  # grown past exact: rebuild as HNSW
            old = self.index.reconstruct_n(0, self.index.ntotal) if self.index.ntotal else None
            self.index = new_index(vectors.shape[1], total)
            if old is not None:
                self.index.add(old)
        self.index.add(normalised(vectors))
        self.entries.extend(entries)


def image_source(row: dict[str, Any]) -> str | None:
    """Where a row's image can be read again: a URL or URI as given, a local path made absolute; none for inline
    bytes (a JSONL b64 instance)."""
    source = row.get("source")
    if not isinstance(source, str) or not source or source.startswith("jsonl:"):
        return None
    return source if "://" in source else str(Path(source).resolve())


class CatalogueIndex:
    def __init__(self, folder: Path, dim: int, embedder: str | None, parts: dict[str, Part],
                 sources: dict[str, str] | None = None) -> None:
        self.folder, self.dim, self.embedder, self.parts = Path(folder), dim, embedder, parts
        self.sources: dict[str, str] = sources or {}  # product id -> its image (image_source)

    @property
    def ids(self) -> set[str]:
        return {e["id"] for e in self.parts["images"].entries}

    @classmethod
    def open(cls, folder: Path) -> "CatalogueIndex":
        folder = Path(folder)
        info_path = folder / "index.json"
        if not info_path.is_file():
            raise FileNotFoundError(f"{folder} is not a catalogue index (no index.json); build one with "
                                    "python -m catalogue index DEST --out FOLDER")
        info = json.loads(info_path.read_text())
        parts = {}
        for scope in SCOPES:
            entries = pq.read_table(folder / f"entries-{scope}.parquet").to_pylist()
            parts[scope] = Part(faiss.read_index(str(folder / f"{scope}.faiss")), entries)
            if isinstance(parts[scope].index, faiss.IndexHNSW):
                parts[scope].index.hnsw.efSearch = EF_SEARCH
        sources = {}
        if (folder / SOURCES).is_file():  # an index built before thumbnails has none
            table = pq.read_table(folder / SOURCES)
            sources = dict(zip(table.column("id").to_pylist(), table.column("source").to_pylist()))
        return cls(folder, int(info["dim"]), info.get("embedder"), parts, sources)

    @classmethod
    def open_or_create(cls, folder: Path, dim: int, embedder: str | None, expected: int = 0) -> "CatalogueIndex":
        if (Path(folder) / "index.json").is_file():
            return cls.open(folder)
        return cls(folder, dim, embedder, {s: Part(new_index(dim, expected), []) for s in SCOPES})

    def add_rows(self, rows: list[dict[str, Any]]) -> dict[str, int]:
        """Add the rows whose id the index does not hold yet; returns vectors added per scope."""
        have = self.ids
        fresh = [r for r in rows if r.get("id") not in have and r.get("status") == "ok"]
        makers = {r.get("embedder") for r in fresh} - {None}
        if self.embedder is None and len(makers) == 1:
            self.embedder = next(iter(makers))
        if makers - {self.embedder}:
            raise IndexRefused(f"these rows were embedded by {sorted(makers)}, the index by {self.embedder!r}; "
                              "vectors of different embedders cannot be compared: build a new index")
        added = {}
        for scope, (vecs, entries) in vectors_of(fresh).items():
            if vecs and len(vecs[0]) != self.dim:
                raise IndexRefused(f"vectors of dimension {len(vecs[0])}; the index holds {self.dim}")
            self.parts[scope].add(np.stack(vecs) if vecs else np.zeros((0, self.dim), np.float32), entries)
            added[scope] = len(entries)
        for row in fresh:
            if row.get("embedding") is not None and (source := image_source(row)) is not None:
                self.sources[str(row["id"])] = source
        return added

    def save(self) -> Path:
        """Written to temporary names, then renamed: a reader never sees half an index."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for scope, part in self.parts.items():
            faiss.write_index(part.index, str(self.folder / f"{scope}.faiss.tmp"))
            table = pa.Table.from_pylist(part.entries, schema=pa.schema([
                (f, _ENTRY_TYPES.get(f, pa.string())) for f in ENTRY_FIELDS]))
            pq.write_table(table, self.folder / f"entries-{scope}.parquet.tmp")
        pq.write_table(pa.table({"id": pa.array(list(self.sources), pa.string()),
                                 "source": pa.array(list(self.sources.values()), pa.string())}),
                       self.folder / f"{SOURCES}.tmp")
        os.replace(self.folder / f"{SOURCES}.tmp", self.folder / SOURCES)
        for scope in SCOPES:
            os.replace(self.folder / f"{scope}.faiss.tmp", self.folder / f"{scope}.faiss")
            os.replace(self.folder / f"entries-{scope}.parquet.tmp", self.folder / f"entries-{scope}.parquet")
        (self.folder / "index.json").write_text(json.dumps(self.info(), indent=1))
        return self.folder

    def info(self) -> dict[str, Any]:
        return {"dim": self.dim, "embedder": self.embedder, "products": len(self.parts["images"].entries),
                **{scope: {"count": p.index.ntotal, "kind": kind(p.index)} for scope, p in self.parts.items()}}

    def search(self, vector: np.ndarray, k: int = 10, scope: str = "images", exclude: str | None = None,
               where: Where | None = None) -> list[dict[str, Any]]:
        """The k best products for one query vector: each product once, with its best-matching entry; `where`:
        only the entries it keeps (catalogue.filters). Each hit carries the fields it can be filtered on."""
        if scope not in (*SCOPES, "all"):
            raise IndexRefused(f"scope must be one of {[*SCOPES, 'all']}, got {scope!r}")
        if len(vector) != self.dim:
            raise IndexRefused(f"the query has dimension {len(vector)}; the index holds {self.dim}")
        query = normalised(np.asarray(vector, np.float32)[None])
        best: dict[str, dict[str, Any]] = {}
        for s in SCOPES if scope == "all" else (scope,):
            part = self.parts[s]
            if not part.index.ntotal:
                continue
            want = min(part.index.ntotal, k * (4 if s == "garments" else 1) + (8 if exclude else 0))
            scores, idx = part.search(query, want, where)
            for score, i in zip(scores, idx):
                if i < 0:
                    continue
                entry = part.entries[int(i)]
                if entry["id"] == exclude:
                    continue
                if entry["id"] not in best or score > best[entry["id"]]["score"]:
                    best[entry["id"]] = {**entry, "score": round(float(score), 4), "scope": s}
        return sorted(best.values(), key=lambda h: -h["score"])[:k]

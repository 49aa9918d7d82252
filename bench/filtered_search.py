"""python -m bench.filtered_search: filtered search on synthetic vectors with realistic metadata, the catalogue
index (faiss: catalogue.index.Part.search with a catalogue.filters.Where) beside an embedded vector database
(LanceDB, when installed: `pip install lancedb==0.40.0`), in one run: build time, memory, query p50 and
recall@10 against exact filtered search, at filters keeping about 50 %, 5 % and 0.1 % of the entries.

Vectors as bench.index_search (256-d, around 2,000 centres). Metadata: each centre is one articleType (the
catalogue's own articleType frequencies, so a type's entries cluster, as real ones do), gender drawn per entry
(half "Women"), baseColour per entry ("Teal" for 0.1 %). Every hit is checked against the filter.

LanceDB as its documentation advises for filtered search: an IVF_PQ index (dot product, NUM_PARTITIONS, 32
sub-vectors), BITMAP scalar indexes on the filtered columns, prefiltering, NPROBES partitions and a refine step
(REFINE_FACTOR x k candidates re-scored with the full vectors); its table on disk in a temporary folder. Also
the same table searched without its vector index (bypass_vector_index: exact, a prefiltered scan), on
SLOW_QUERIES queries.
"""
from __future__ import annotations

import argparse
import copy
import csv
import dataclasses
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from bench.index_search import CENTRES, DIM, K, QUERIES, rss_mb, vectors
from catalogue import index as catalogue_index
from catalogue.filters import Where, parse

STYLES = Path(__file__).resolve().parent.parent.parent / "shared/data/fashion_products/styles.csv"
FILTERS = {"50 %": 'gender = "Women"', "5 %": 'articleType IN ("Dresses", "Skirts", "Heels")',
           "0.1 %": 'baseColour = "Teal"', "5 % AND 50 %": 'gender = "Women" AND articleType IN ("Dresses", "Skirts", '
                                                           '"Heels")'}
FIELDS = ("gender", "articleType", "baseColour")
NUM_PARTITIONS, NUM_SUB_VECTORS, NPROBES, REFINE_FACTOR = 1024, 32, 48, 10
SLOW_QUERIES = 20  # queries for LanceDB's flat scan (the others: bench.index_search.QUERIES)


@dataclasses.dataclass
class Data:
    vectors: np.ndarray  # (n, DIM) normalised
    metadata: dict[str, np.ndarray]  # field -> (n,) strings
    queries: np.ndarray


def article_types(rng: np.random.Generator) -> list[str]:
    """One articleType per centre, drawn with the catalogue's frequencies (a fixed table when it is absent)."""
    counts = Counter(r["articleType"] for r in csv.DictReader(open(STYLES))) if STYLES.is_file() else \
        Counter({"Tshirts": 70, "Shirts": 32, "Dresses": 22, "Skirts": 6, "Heels": 18, "Watches": 25, "Jeans": 27})
    names = sorted(counts)
    p = np.array([counts[n] for n in names], float)
    return list(rng.choice(names, CENTRES, p=p / p.sum()))


def synthetic(n: int, rng: np.random.Generator) -> Data:
    centres = catalogue_index.normalised(rng.normal(size=(CENTRES, DIM)).astype(np.float32))
    which = rng.integers(0, CENTRES, n)
    data = catalogue_index.normalised(centres[which] + rng.normal(0, 0.6 / np.sqrt(DIM), (n, DIM)).astype(np.float32))
    types = np.asarray(article_types(rng))
    metadata = {"gender": np.where(rng.random(n) < 0.5, "Women", "Men"), "articleType": types[which],
                "baseColour": np.where(rng.random(n) < 0.001, "Teal", "Black")}
    return Data(data, metadata, vectors(QUERIES, rng, centres))


class Faiss:
    """The catalogue index's own filtered search (catalogue.index.Part)."""
    name = "faiss (catalogue.index)"

    def __init__(self, data: Data) -> None:
        self.part = catalogue_index.Part(catalogue_index.new_index(DIM, len(data.vectors)), [])
        entries = [{"id": str(i), "garment": -1, **{f: str(data.metadata[f][i]) for f in FIELDS}}
                   for i in range(len(data.vectors))]
        self.part.add(data.vectors, entries)
        self.part.columns()

    def kind(self) -> str:
        return catalogue_index.kind(self.part.index)

    def forget(self) -> None:
        self.part._kept = None  # the filter's kept entries computed again: a filter's first query

    def search(self, q: np.ndarray, where: Where | None) -> list[int]:
        return self.part.search(q[None], K, where)[1].tolist()


def sql(where: Where) -> str:
    """The filter in LanceDB's SQL (DataFusion: single-quoted strings)."""
    def one(c) -> str:
        values = ", ".join("'" + str(v).replace("'", "''") + "'" for v in c.values)
        return f"{c.field} {'NOT IN' if c.negated else 'IN'} ({values})"
    return " AND ".join(one(c) for c in where.conditions)


class Lance:
    """LanceDB, embedded: a table on disk with an IVF_PQ vector index and BITMAP indexes on the filter fields;
    `exact`: the same table searched without the vector index (bypass_vector_index: a prefiltered flat scan)."""

    def __init__(self, data: Data, folder: Path) -> None:
        import lancedb
        import pyarrow as pa

        n = len(data.vectors)
        table = pa.table({"id": pa.array(np.arange(n, dtype=np.int64)),
                          "vector": pa.FixedSizeListArray.from_arrays(pa.array(data.vectors.reshape(-1)), DIM),
                          **{f: pa.array(data.metadata[f].astype(str)) for f in FIELDS}})
        self.exact, self.name = False, "LanceDB 0.40 (IVF_PQ + BITMAP, prefilter)"
        self.table = lancedb.connect(folder).create_table("bench", table)
        self.table.create_index(metric="dot", vector_column_name="vector", index_type="IVF_PQ",
                                num_partitions=min(NUM_PARTITIONS, max(1, n // 256)), num_sub_vectors=NUM_SUB_VECTORS)
        for f in FIELDS:
            self.table.create_scalar_index(f, index_type="BITMAP")

    def flat_scan(self) -> "Lance":
        twin = copy.copy(self)
        twin.exact, twin.name = True, self.name.replace("IVF_PQ", "flat scan")
        twin.queries = SLOW_QUERIES  # a scan of the whole table per query: fewer queries
        return twin

    def kind(self) -> str:
        return "bypass_vector_index" if self.exact else f"ivf_pq nprobes {NPROBES} refine {REFINE_FACTOR}"

    def forget(self) -> None:
        pass  # nothing remembered per filter

    def search(self, q: np.ndarray, where: Where | None) -> list[int]:
        query = self.table.search(q, vector_column_name="vector").distance_type("dot").limit(K) \
            .select(["id", "_distance"])
        query = query.bypass_vector_index() if self.exact else query.nprobes(NPROBES).refine_factor(REFINE_FACTOR)
        if where is not None:
            query = query.where(sql(where), prefilter=True)
        return query.to_arrow().column("id").to_pylist()


def measure(engine: Any, data: Data, where_text: str | None) -> dict:
    where = None if where_text is None else parse(where_text)
    mask = np.ones(len(data.vectors), bool)
    if where is not None:
        for c in where.conditions:
            mask &= np.isin(data.metadata[c.field], list(c.values)) != c.negated
    kept = np.flatnonzero(mask)
    times, fresh, recalls, obeyed = [], [], [], []
    for q in data.queries[:getattr(engine, "queries", None)]:
        engine.forget()
        start = time.perf_counter()
        engine.search(q, where)
        fresh.append(time.perf_counter() - start)
        start = time.perf_counter()
        found = engine.search(q, where)  # remembered (Part.kept): a page's next query
        times.append(time.perf_counter() - start)
        truth = kept[np.argsort(-(data.vectors[kept] @ q))[:K]]
        recalls.append(len(set(found) & set(truth.tolist())) / min(K, len(kept)) if len(kept) else 1.0)
        obeyed.append(bool(mask[found].all()) if found else True)
    return {"kept": len(kept) / len(data.vectors), "p50_ms": statistics.median(times) * 1000,
            "first_p50_ms": statistics.median(fresh) * 1000,
            "recall": float(np.mean(recalls)), "obeyed": float(np.mean(obeyed))}


def engines(names: list[str], data: Data, folder: Path) -> list[tuple[Any, float, float]]:
    """Each engine built on the same data: (engine, build seconds, resident MB added)."""
    built = []
    for name in names:
        before, start = rss_mb(), time.perf_counter()
        engine = Faiss(data) if name == "faiss" else Lance(data, folder / name)
        built.append((engine, time.perf_counter() - start, rss_mb() - before))
        if isinstance(engine, Lance):  # the same table searched without its vector index
            built.append((engine.flat_scan(), 0.0, 0.0))
    return built


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.filtered_search", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--engines", nargs="+", choices=("faiss", "lancedb"), default=None,
                    help="default: faiss, and lancedb when it is installed")
    args = ap.parse_args(argv)
    names = args.engines
    if names is None:
        try:
            import lancedb  # noqa: F401
            names = ["faiss", "lancedb"]
        except ImportError:
            names = ["faiss"]
    rng = np.random.default_rng(0)
    print("| vectors | engine | filter | kept | p50 ms | p50 ms, the filter's first query | recall@10 vs exact "
          "filtered | hits obeying the filter |")
    print("|---:|---|---|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        data = synthetic(n, rng)
        with tempfile.TemporaryDirectory(prefix="filtered-search-") as folder:
            for engine, seconds, mb in engines(names, data, Path(folder)):
                print(f"<!-- {n:,} vectors, {engine.name} ({engine.kind()}): built in {seconds:.1f} s, "
                      f"+{mb:,.0f} MB resident -->", flush=True)
                for name, text in {"none": None, **FILTERS}.items():
                    r = measure(engine, data, text)
                    label = "none" if text is None else f"{name}: `{text}`"
                    print(f"| {n:,} | {engine.name} | {label} | {r['kept']:.2%} | {r['p50_ms']:.2f} | "
                          f"{r['first_p50_ms']:.2f} | {r['recall']:.3f} | {r['obeyed']:.0%} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""python -m bench.index_search: the catalogue index on synthetic vectors (100k and 1M by default): build time,
memory, query p50 and recall@10 of each kind against exact search, in one run.

Vectors: 256-d, L2-normalised, drawn around 2,000 random centres (a clustered catalogue: many near-duplicates
per product type), queries drawn the same way and never indexed. Exact = faiss IndexFlatIP; HNSW = the kind
catalogue.index builds past EXACT_MAX (M, efConstruction, efSearch from there); IVF-Flat (sqrt(n) lists,
nprobe 16) for comparison.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import faiss
import numpy as np

from catalogue import index as catalogue_index

DIM, CENTRES, QUERIES, K = 256, 2000, 200, 10


def vectors(n: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    v = centres[rng.integers(0, len(centres), n)] + rng.normal(0, 0.6 / np.sqrt(DIM), (n, DIM)).astype(np.float32)
    return catalogue_index.normalised(v)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def query_p50(index: faiss.Index, queries: np.ndarray) -> float:
    times = []
    for q in queries:
        start = time.perf_counter()
        index.search(q[None], K)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth)]))


def run(n: int, rng: np.random.Generator) -> list[str]:
    centres = catalogue_index.normalised(rng.normal(size=(CENTRES, DIM)).astype(np.float32))
    data, queries = vectors(n, rng, centres), vectors(QUERIES, rng, centres)
    lines = []
    kinds = {"exact": lambda: faiss.IndexFlatIP(DIM),
             "hnsw": lambda: catalogue_index.new_index(DIM, catalogue_index.EXACT_MAX + 1),
             "ivf": lambda: faiss.index_factory(DIM, f"IVF{int(np.sqrt(n))},Flat", faiss.METRIC_INNER_PRODUCT)}
    truth = None
    for name, make in kinds.items():
        before = rss_mb()
        start = time.perf_counter()
        index = make()
        if not index.is_trained:
            index.train(data[rng.choice(n, min(n, 40 * int(np.sqrt(n))), replace=False)])
        index.add(data)
        build = time.perf_counter() - start
        if name == "ivf":
            index.nprobe = 16
        mem = len(faiss.serialize_index(index)) / 2**20
        _, found = index.search(queries, K)
        if truth is None:
            truth = found
        p50 = query_p50(index, queries)
        lines.append(f"| {n:,} | {name} | {build:.1f} s | {mem:.0f} MB (RSS +{rss_mb() - before:.0f}) | "
                     f"{p50:.3f} ms | {recall(found, truth):.3f} |")
        del index
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="100000,1000000")
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"faiss {faiss.__version__}, {faiss.omp_get_max_threads()} threads; HNSW M={catalogue_index.HNSW_M} "
          f"efConstruction={catalogue_index.EF_CONSTRUCTION} efSearch={catalogue_index.EF_SEARCH}; IVF nprobe 16")
    print("| vectors | kind | build | size (memory) | query p50 (k=10) | recall@10 vs exact |")
    print("|---:|---|---:|---:|---:|---:|")
    for n in (int(s) for s in args.sizes.split(",")):
        for line in run(n, rng):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""python -m bench.filtered_search: filtered search in the catalogue index (catalogue.index.Part.search with a
catalogue.filters.Where) on synthetic vectors with realistic metadata, in one run: build time, memory, query p50
and recall@10 against exact filtered search, at filters keeping about 50 %, 5 % and 0.1 % of the entries.

Vectors as bench.index_search (256-d, around 2,000 centres). Metadata: each centre is one articleType (the
catalogue's own articleType frequencies, so a type's entries cluster, as real ones do), gender drawn per entry
(half "Women"), baseColour per entry ("Teal" for 0.1 %). Every hit is checked against the filter.
"""
from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from bench.index_search import CENTRES, DIM, K, QUERIES, rss_mb, vectors
from catalogue import index as catalogue_index
from catalogue.filters import parse

STYLES = Path(__file__).resolve().parent.parent.parent / "shared/data/fashion_products/styles.csv"
FILTERS = {"50 %": 'gender = "Women"', "5 %": 'articleType IN ("Dresses", "Skirts", "Heels")',
           "0.1 %": 'baseColour = "Teal"', "5 % AND 50 %": 'gender = "Women" AND articleType IN ("Dresses", "Skirts", '
                                                           '"Heels")'}


def article_types(rng: np.random.Generator) -> list[str]:
    """One articleType per centre, drawn with the catalogue's frequencies (a fixed table when it is absent)."""
    counts = Counter(r["articleType"] for r in csv.DictReader(open(STYLES))) if STYLES.is_file() else \
        Counter({"Tshirts": 70, "Shirts": 32, "Dresses": 22, "Skirts": 6, "Heels": 18, "Watches": 25, "Jeans": 27})
    names = sorted(counts)
    p = np.array([counts[n] for n in names], float)
    return list(rng.choice(names, CENTRES, p=p / p.sum()))


def build(n: int, rng: np.random.Generator) -> tuple[catalogue_index.Part, np.ndarray, float, float]:
    centres = catalogue_index.normalised(rng.normal(size=(CENTRES, DIM)).astype(np.float32))
    which = rng.integers(0, CENTRES, n)
    data = catalogue_index.normalised(centres[which] + rng.normal(0, 0.6 / np.sqrt(DIM), (n, DIM)).astype(np.float32))
    types = article_types(rng)
    gender = np.where(rng.random(n) < 0.5, "Women", "Men")
    colour = np.where(rng.random(n) < 0.001, "Teal", "Black")
    before, start = rss_mb(), time.perf_counter()
    part = catalogue_index.Part(catalogue_index.new_index(DIM, n), [])
    entries = [{"id": str(i), "garment": -1, "gender": gender[i], "articleType": types[which[i]],
                "baseColour": colour[i]} for i in range(n)]
    part.add(data, entries)
    part.columns()
    return part, vectors(QUERIES, rng, centres), time.perf_counter() - start, rss_mb() - before


def measure(part: catalogue_index.Part, queries: np.ndarray, where_text: str) -> dict:
    where = parse(where_text)
    kept = np.flatnonzero(where.mask(part.columns(), len(part.entries)))
    stored = part.vectors()
    times, fresh, recalls, obeyed = [], [], [], []
    for q in queries:
        part._kept = None  # the filter's kept entries computed again: a filter's first query
        start = time.perf_counter()
        part.search(q[None], K, where)
        fresh.append(time.perf_counter() - start)
        start = time.perf_counter()
        _, found = part.search(q[None], K, where)  # remembered (Part.kept): a page's next query
        times.append(time.perf_counter() - start)
        truth = kept[np.argsort(-(stored[kept] @ q))[:K]]
        recalls.append(len(set(found.tolist()) & set(truth.tolist())) / min(K, len(kept)))
        obeyed.append(all(all((part.entries[i].get(c.field) in c.values) != c.negated for c in where.conditions)
                          for i in found.tolist()))
    return {"kept": len(kept) / len(part.entries), "p50_ms": statistics.median(times) * 1000,
            "first_p50_ms": statistics.median(fresh) * 1000,
            "recall": float(np.mean(recalls)), "obeyed": float(np.mean(obeyed))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.filtered_search", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    print("| vectors | filter | kept | p50 ms | p50 ms, the filter's first query | recall@10 vs exact filtered | "
          "hits obeying the filter |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        part, queries, seconds, mb = build(n, rng)
        print(f"<!-- {n:,} vectors ({catalogue_index.kind(part.index)}): built in {seconds:.1f} s, "
              f"+{mb:,.0f} MB resident (index, entries and filter columns) -->")
        for name, text in {"none": None, **FILTERS}.items():
            if text is None:
                t = []
                for q in queries:
                    start = time.perf_counter()
                    part.search(q[None], K, None)
                    t.append(time.perf_counter() - start)
                print(f"| {n:,} | none | 100 % | {statistics.median(t) * 1000:.2f} | - | - | - |")
                continue
            r = measure(part, queries, text)
            print(f"| {n:,} | {name}: `{text}` | {r['kept']:.2%} | {r['p50_ms']:.2f} | {r['first_p50_ms']:.2f} | "
                  f"{r['recall']:.3f} | "
                  f"{r['obeyed']:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

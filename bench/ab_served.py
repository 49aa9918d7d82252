"""python -m bench.ab_served STORE_A STORE_B: do two builds of the archives serve equally fast?

For a refactor: build the archives from each code version (`python -m export archives --store ...` in each
checkout, from the same export folder), then this starts a TorchServe on each store in turn (A, B, A, B, ...:
the machine's drift falls on both) and times one client on the ensemble and the workflow with the same photos.
Prints p50/p95 per store and endpoint, and B's p50 over A's.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from bench.load import percentile, run_load
from bench.photos import DEFAULT_PHOTOS, pick_photos
from fashion import models as registry
from fashion.samples import synthetic_jpeg
from launcher import torchserve as ts

ROOT = Path(__file__).resolve().parent.parent
ENDPOINTS = {"ensemble": registry.ENSEMBLE_PATH, "workflow": registry.WORKFLOW_PATH}


def one_round(store: Path, bodies: list[bytes], runs: int) -> dict[str, list[float]]:
    """Latencies (ms) per endpoint from a fresh server on `store`, after a warm-up pass."""
    out: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, ts.temporary_server(
            ROOT / "config.properties", store, Path(tmp), list(registry.SERVED), synthetic_jpeg()) as urls:
        for name, path in ENDPOINTS.items():
            url = urls["inference"] + path
            run_load(url, bodies, 1, len(bodies))  # warm-up
            result = run_load(url, bodies, 1, runs * len(bodies))
            assert all(s == 200 for s in result.statuses), f"{store} {name}: {set(result.statuses)}"
            out[name] = [s * 1000 for s in result.latencies]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--rounds", type=int, default=2, help="servers started per store")
    p.add_argument("--runs", type=int, default=3, help="passes over the photos per round")
    p.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    p.add_argument("--photo", type=Path, default=None, help="one photo instead (the benchmark photo: bench's 0005.jpg)")
    args = p.parse_args(argv)
    paths = [args.photo] * 8 if args.photo else pick_photos(args.photos, 8)
    bodies = [path.read_bytes() for path in paths]
    times: dict[str, dict[str, list[float]]] = {"A": {}, "B": {}}
    for _ in range(args.rounds):
        for label, store in (("A", args.a), ("B", args.b)):
            for name, ms in one_round(store.resolve(), bodies, args.runs).items():
                times[label].setdefault(name, []).extend(ms)
    print(f"| endpoint | A p50 ms | B p50 ms | A p95 ms | B p95 ms | B/A p50 |  (A {args.a}, B {args.b}; "
          f"{args.rounds} servers each, alternating, {len(bodies)} photos x {args.runs} per server, 1 client)")
    print("|---|---:|---:|---:|---:|---:|")
    for name in ENDPOINTS:
        a, b = times["A"][name], times["B"][name]
        pa, pb = statistics.median(a), statistics.median(b)
        print(f"| {name} | {pa:.0f} | {pb:.0f} | {percentile(a, 95):.0f} | {percentile(b, 95):.0f} | {pb / pa:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""python -m bench.enrich_throughput: the enrichment job against the served 8-client figure, side by side in one
run on the same catalogue photos (the front door and its TorchServe started on spare ports, or --url).

1. served: 8 clients each POST photos one after another to /predictions/fashion (raw bytes), as bench.served;
2. the job: `catalogue enrich`'s Job over the same photos (each --batch/--concurrency setting given), into a
   throwaway journal. Prints img/s for each and the job / served ratio (target >= 0.9).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench.load import run_load
from catalogue.engines import RemoteEngine
from catalogue.enrich import Job
from catalogue.sources import Record
from catalogue.store import Journal
from fashion import models as registry
from launcher.spawned import spawned_front_door

PRODUCTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "fashion_products" / "images"


def measure(url: str, photos: list[Path], settings: list[tuple[int, int]]) -> list[str]:
    bodies = [p.read_bytes() for p in photos]
    run_load(url, bodies[:16], 8, 2)  # warm-up
    served = run_load(url, bodies, 8, len(bodies) // 8)
    lines = [f"served, 8 clients x {len(bodies) // 8} photos: {served.throughput:.2f} img/s "
             f"({sum(s != 200 for s in served.statuses)} errors)"]
    for batch, concurrency in settings:
        with tempfile.TemporaryDirectory() as tmp:
            journal = Journal(Path(tmp) / "out.parquet")
            job = Job(RemoteEngine(url), journal, {}, batch=batch, concurrency=concurrency)
            s = job.run([Record(p.stem, str(p)) for p in photos])
            journal.close()
        lines.append(f"enrich, batch {batch}, concurrency {concurrency}: {s.rate:.2f} img/s "
                     f"({s.done} answered, {sum(s.refused.values())} refused) = "
                     f"{s.rate / served.throughput:.2f}x served")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="an endpoint already running (default: start one on spare ports)")
    p.add_argument("--photos", type=int, default=400)
    p.add_argument("--settings", default="1x8,2x8,4x4", help="BATCHxCONCURRENCY, comma-separated")
    args = p.parse_args(argv)
    photos = sorted(PRODUCTS.glob("*.jpg"))[::3][:args.photos]
    settings = [tuple(int(v) for v in s.split("x")) for s in args.settings.split(",")]
    if args.url:
        lines = measure(args.url, photos, settings)
    else:
        with tempfile.TemporaryDirectory() as tmp, spawned_front_door(Path(tmp)) as urls:
            lines = measure(urls["front"] + registry.ENSEMBLE_PATH, photos, settings)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

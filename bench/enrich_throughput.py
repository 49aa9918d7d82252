"""python -m bench.enrich_throughput: the enrichment engines side by side in one run on the same catalogue photos
(the front door and its TorchServe started on spare ports, or --url).

1. served: 8 clients each POST photos one after another to /predictions/fashion (raw bytes), as bench.served;
2. http: `catalogue enrich`'s Job over the same photos against that endpoint (each --batch/--concurrency
   setting given), into a throwaway journal; the job / served ratio;
3. local: the in-process batched pipeline (the Job with LocalEngine, batches of --local-batch, every core);
4. ray: the Ray Data engine on a local cluster (one 1-thread actor per core), into a throwaway folder of parts;
   its rate over the whole job and after its first part (the actors' start-up excluded), per core against the
   local engine's (target >= 0.9) and against the http engine's (target >= 1).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench.load import run_load
from catalogue import ray_engine
from catalogue.engines import LocalEngine, RemoteEngine
from catalogue.enrich import Job
from catalogue.sources import Record
from catalogue.store import Journal
from fashion import models as registry
from fashion.threads import available_cores
from launcher.spawned import spawned_front_door

PRODUCTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "fashion_products" / "images"


def in_process(photos: list[Path], models: Path, batch: int) -> tuple[float, str]:
    """The in-process batched pipeline over the photos: (img/s, a line)."""
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(Path(tmp) / "out.parquet")
        job = Job(LocalEngine(models), journal, {}, batch=batch, concurrency=1)
        job.run([Record(p.stem, str(p)) for p in photos[:8]])  # warm-up (not counted: its own journal)
        journal.close()
        journal = Journal(Path(tmp) / "timed.parquet")
        s = Job(job.engine, journal, {}, batch=batch, concurrency=1).run([Record(p.stem, str(p)) for p in photos])
        journal.close()
    cores = available_cores()
    return s.rate, (f"local (in-process, batch {batch}, {cores} cores): {s.rate:.2f} img/s = "
                    f"{s.rate / cores:.2f} img/s per core")


def on_ray(photos: list[Path], models: Path, batch: int, part_size: int,
           threads: int = 1) -> tuple[float, float, str]:
    """The Ray engine on a local cluster: (img/s overall, img/s after the first part, a line)."""
    import ray

    class Clock:  # a progress sink: when the first part came back, and how many images came after it
        first: float | None = None
        after = total = 0

        def refresh(self) -> None:
            pass

        def update(self, n: int) -> None:
            if self.first is None:
                self.first = time.monotonic()
            else:
                self.after += n

    cores = available_cores()
    actors = max(1, cores // threads)
    clock = Clock()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.monotonic()
        s = ray_engine.run([Record(p.stem, str(p)) for p in photos], str(Path(tmp) / "parts"), models, {},
                           actors=actors, threads=threads, part_size=part_size, batch=batch, progress=clock)
        end = time.monotonic()
    ray.shutdown()
    overall = len(photos) / (end - start)
    steady = clock.after / (end - clock.first) if clock.first and end > clock.first else float("nan")
    return overall, steady, (f"ray ({actors} actors x {threads} threads, parts of {part_size}, batch {batch}): "
                             f"{overall:.2f} img/s over the job ({s.done} answered), {steady:.2f} img/s after its "
                             f"first part = {steady / cores:.2f} img/s per core")


def measure(url: str, photos: list[Path], settings: list[tuple[int, int]]) -> tuple[list[str], float]:
    bodies = [p.read_bytes() for p in photos]
    run_load(url, bodies[:16], 8, 2)  # warm-up
    served = run_load(url, bodies, 8, len(bodies) // 8)
    lines = [f"served, 8 clients x {len(bodies) // 8} photos: {served.throughput:.2f} img/s "
             f"({sum(s != 200 for s in served.statuses)} errors)"]
    http = 0.0
    for batch, concurrency in settings:
        with tempfile.TemporaryDirectory() as tmp:
            journal = Journal(Path(tmp) / "out.parquet")
            job = Job(RemoteEngine(url), journal, {}, batch=batch, concurrency=concurrency)
            s = job.run([Record(p.stem, str(p)) for p in photos])
            journal.close()
        lines.append(f"http enrich, batch {batch}, concurrency {concurrency}: {s.rate:.2f} img/s "
                     f"({s.done} answered, {sum(s.refused.values())} refused) = "
                     f"{s.rate / served.throughput:.2f}x served")
        http = max(http, s.rate)
    return lines, http


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="an endpoint already running (default: start one on spare ports)")
    p.add_argument("--photos", type=int, default=400)
    p.add_argument("--settings", default="1x8,2x8,4x4", help="BATCHxCONCURRENCY, comma-separated")
    p.add_argument("--models", type=Path, default=Path("build/export"), help="the export (local and ray engines)")
    p.add_argument("--local-batch", type=int, default=ray_engine.BATCH, help="images per forward (local, ray)")
    p.add_argument("--part-size", type=int, default=ray_engine.PART_SIZE)
    p.add_argument("--engines", default="http,local,ray", help="which to measure, comma-separated")
    p.add_argument("--ray-threads", type=int, default=1, help="threads per Ray actor (actors: cores / threads)")
    args = p.parse_args(argv)
    engines = set(args.engines.split(","))
    photos = sorted(PRODUCTS.glob("*.jpg"))[::3][:args.photos]
    settings = [tuple(int(v) for v in s.split("x")) for s in args.settings.split(",")]
    lines, http = [], float("nan")
    if "http" in engines and args.url:
        lines, http = measure(args.url, photos, settings)
    elif "http" in engines:
        with tempfile.TemporaryDirectory() as tmp, spawned_front_door(Path(tmp)) as urls:
            lines, http = measure(urls["front"] + registry.ENSEMBLE_PATH, photos, settings)
    local = float("nan")
    if "local" in engines:
        local, line = in_process(photos, args.models, args.local_batch)
        lines.append(line)
    if "ray" in engines:
        _, steady, line = on_ray(photos, args.models, args.local_batch, args.part_size, args.ray_threads)
        lines.append(line)
        lines.append(f"ray / local per core: {steady / local:.2f}x (target >= 0.9); "
                     f"ray / best http: {steady / http:.2f}x (target >= 1)")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

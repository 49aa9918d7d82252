"""The served pipeline under load, with TorchServe's dynamic batching on and off.

For each setting a fresh TorchServe starts from the same archives (a store of links to them): the three model
archives load at start, the ensemble is registered with the batch size under test (this temporary loopback
server turns the model API on for that), and the workflow from a
.war whose spec differs only in `batch-size`. Then, per endpoint: 1 client (p50/p95), 4 and 8 clients
(throughput, p95, slowest/median, errors); worker RSS after the load; start-up time; archive sizes.
"""
from __future__ import annotations

import dataclasses
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.load import percentile, run_load, worker_rss
from export.archive import MAX_BATCH_DELAY_MS, build_war, spec_quick_nodes, war_spec
from fashion import models as registry
from fashion.samples import synthetic_jpeg
from fashion.threads import available_cores
from launcher import torchserve as ts

ENDPOINTS = {"workflow": f"/wfpredict/{registry.WORKFLOW}", "ensemble": f"/predictions/{registry.ENSEMBLE.name}"}
PER_MODEL = list(registry.NAMES)


@dataclasses.dataclass
class Served:
    endpoint: str
    batch_size: int
    threads: str  # "policy" (fashion.threads), "split" (cores // 3 nodes) or the FASHION_TORCH_THREADS given
    p50: float  # ms, 1 client
    p95: float
    clients: dict[int, dict[str, float]]  # clients -> throughput img/s, p95 ms, max/median, errors


def batching_store(store: Path, work: Path, batch_size: int) -> Path:
    """A store with links to the built archives and a fashion.war whose spec has this batch size."""
    work.mkdir(parents=True, exist_ok=True)
    for mar in store.glob("*.mar"):
        (work / mar.name).unlink(missing_ok=True)
        (work / mar.name).symlink_to(mar.resolve())
    quick = spec_quick_nodes(war_spec(store / registry.WORKFLOW_ARCHIVE))  # the built spec's, batch size changed
    build_war(work, work, quick, **{"batch-size": batch_size})
    return work


def archive_sizes(store: Path) -> dict[str, float]:
    return {p.name: round(p.stat().st_size / 1e6, 1) for p in sorted(store.glob("*.[mw]ar"))}


def measure(config: Path, store: Path, batch_size: int, photo: bytes, bodies: list[bytes], runs: int,
            client_counts: tuple[int, ...], per_client: int, threads: str = "policy") -> tuple[list[Served], dict]:
    """Start a server with this batch size (and threads), load it, stop it: (rows, {startup_s, rss_mb})."""
    rows = []
    saved = os.environ.pop("FASHION_TORCH_THREADS", None)
    if threads != "policy":  # TorchServe's workers inherit it
        os.environ["FASHION_TORCH_THREADS"] = str(max(1, available_cores() // len(PER_MODEL))) \
            if threads == "split" else threads
    try:
        return _measure(config, store, batch_size, photo, bodies, runs, client_counts, per_client, threads, rows)
    finally:
        os.environ.pop("FASHION_TORCH_THREADS", None)
        if saved is not None:
            os.environ["FASHION_TORCH_THREADS"] = saved


def _measure(config: Path, store: Path, batch_size: int, photo: bytes, bodies: list[bytes], runs: int,
             client_counts: tuple[int, ...], per_client: int, threads: str,
             rows: list[Served]) -> tuple[list[Served], dict]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        linked = batching_store(store, work / "store", batch_size)
        models = ",".join(f"{m}={m}.mar" for m in PER_MODEL)
        start = time.perf_counter()
        with ts.temporary_server(config, linked, work, PER_MODEL, synthetic_jpeg(),
                                 overrides={"load_models": models, "enable_model_api": "true"}) as urls:
            ensemble = registry.ENSEMBLE.name
            ts.register_model(urls["management"], f"{ensemble}.mar", ensemble, batch_size, MAX_BATCH_DELAY_MS)
            startup = time.perf_counter() - start
            for name, path in ENDPOINTS.items():
                if threads == "split" and name != "workflow":
                    continue  # the even split is about the workflow's nodes
                url = urls["inference"] + path
                seq = run_load(url, photo, 1, runs + 2)
                lat = seq.latencies[2:]
                errors = sum(s != 200 for s in seq.statuses)
                row = Served(name, batch_size, threads, statistics.median(lat) * 1000, percentile(lat, 95) * 1000, {})
                for n in client_counts:
                    # a pass at this concurrency first: a fresh worker's first batches of each size are slow (the
                    # backend prepares each input shape once, BENCHMARKS.md), and the in-process figure is warm too
                    run_load(url, bodies, n, per_client)
                    conc = run_load(url, bodies, n, per_client)
                    row.clients[n] = {"throughput": conc.throughput, "p95": conc.percentile(95) * 1000,
                                      "max_over_median": max(conc.latencies) / conc.median,
                                      "errors": errors + sum(s != 200 for s in conc.statuses)}
                rows.append(row)
            rss = {k: round(v / 1e6) for k, v in worker_rss(urls["management"]).items()}
    return rows, {"startup_s": startup, "rss_mb": rss}

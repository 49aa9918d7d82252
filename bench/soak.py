"""python -m bench.soak: a bounded load test. Concurrent clients for a few minutes against the workflow and the
ensemble at once, with mixed requests (full, embedding_only, user labels, a bad upload, a batch of two).

Prints: requests and errors by status, 5xx count, stalls, and every worker's RSS after warm-up and at each of
--samples points. A stall is TorchServe 0.12's lost response: a reply that only comes when the workflow
node's timeout (timeout-ms, 10 s) expires. So a stall here is a response slower than STALL_S; responses
slower than 3x the endpoint's median are shown too (under saturating mixed load a cheap request can queue
behind three dear ones, so that count is a hint, not a verdict).
Allocators keep growing for a while as new batch shapes arrive, then plateau; a leak keeps growing. So the
verdict is on the second half: exit 1 when there is a 5xx, a stall, or a worker whose RSS grew by more than
--rss-margin (default 5 %) over the second half of the run.
Starts its own front door and TorchServe on spare ports from model_store (or uses --inference/--management of a
running one); requests go through the front door.
"""
from __future__ import annotations

import argparse
import base64
import collections
import concurrent.futures
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.load import worker_rss
from fashion import models as registry
from launcher.spawned import spawned_front_door

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ROOT.parent / "shared" / "data" / "street_photos" / "photos"
ENDPOINTS = (registry.WORKFLOW_PATH, registry.ENSEMBLE_PATH)
STALL_S = 10.0  # the workflow's timeout-ms (export.archive.WORKFLOW_SETTINGS)


def bodies(photo: bytes, other: bytes) -> dict[str, tuple[bytes, str]]:
    b64, b64_other = base64.b64encode(photo).decode(), base64.b64encode(other).decode()
    return {"full": (photo, "image/jpeg"),
            "embedding_only": (json.dumps({"b64": b64, "embedding_only": True}).encode(), "application/json"),
            "labels": (json.dumps({"b64": b64_other, "labels": ["floral", "striped", "plain"]}).encode(),
                       "application/json"),
            "bad": (b"definitely not an image", "application/octet-stream"),
            "batch_of_two": (json.dumps({"images": [{"b64": b64}, {"b64": b64_other}]}).encode(), "application/json")}


def load(inference: str, kinds: dict[str, tuple[bytes, str]], clients: int, seconds: float) -> list[tuple]:
    deadline = time.monotonic() + seconds
    names = list(kinds)

    def client(i: int) -> list[tuple[str, str, int, float]]:
        out, j = [], 0
        endpoint = ENDPOINTS[i % len(ENDPOINTS)]
        with httpx.Client(timeout=120) as http:
            while time.monotonic() < deadline:
                kind = names[(i + j) % len(names)]
                body, ct = kinds[kind]
                start = time.perf_counter()
                try:
                    status = http.post(f"{inference}{endpoint}", content=body, headers={"Content-Type": ct}).status_code
                except httpx.TimeoutException:
                    status = 0
                out.append((endpoint, kind, status, time.perf_counter() - start))
                j += 1
        return out

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        return [r for rs in pool.map(client, range(clients)) for r in rs]


def report(rows: list[tuple], rss: list[dict[str, int]], margin: float, seconds: float) -> int:
    """rss: worker RSS after warm-up, then at each sample point."""
    failures = 0
    print(f"{len(rows)} requests in {seconds:.0f} s ({len(rows) / seconds:.2f}/s)")
    print("| endpoint | kind | n | statuses | median s | p95 s | max s | > 3x endpoint median | "
          f"stalls (> {STALL_S:g} s) |")
    print("|---|---|---:|---|---:|---:|---:|---:|---:|")
    groups = collections.defaultdict(list)
    for endpoint, kind, status, latency in rows:
        groups[(endpoint, kind)].append((status, latency))
    medians = {e: statistics.median(x for e2, _, _, x in rows if e2 == e) for e in {r[0] for r in rows}}
    for (endpoint, kind), items in sorted(groups.items()):
        lat = sorted(x for _, x in items)
        slow = sum(x > 3 * medians[endpoint] for x in lat)
        stalls = sum(x > STALL_S for x in lat)
        statuses = dict(collections.Counter(s for s, _ in items))
        fivexx = sum(n for s, n in statuses.items() if s >= 500 or s == 0)
        failures += stalls + fivexx
        print(f"| {endpoint} | {kind} | {len(items)} | {statuses} | {statistics.median(lat):.2f} | "
              f"{lat[int(0.95 * (len(lat) - 1))]:.2f} | {lat[-1]:.2f} | {slow} | {stalls} |")
    mid = len(rss) // 2
    print("\n| worker | RSS MB after warm-up, then at each sample | growth over the second half |")
    print("|---|---|---:|")
    names = sorted(rss[0]) + ["all workers"]
    for model in names:
        series = [sum(r.values()) if model == "all workers" else r.get(model, 0) for r in rss]
        second = (series[-1] - series[mid]) / max(series[mid], 1)
        failures += model != "all workers" and second > margin
        print(f"| {model} | {' / '.join(f'{v / 2**20:.0f}' for v in series)} | {second:+.1%} |")
    print("\nPASS" if not failures else f"\nFAIL ({failures} problems: 5xx, stalls or RSS over the margin)")
    return 0 if not failures else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=6.0)
    p.add_argument("--samples", type=int, default=6, help="RSS samples over the run")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--rss-margin", type=float, default=0.05,
                   help="allowed RSS growth per worker over the second half (0.05 = 5 %%)")
    p.add_argument("--inference", help="a running front door (default: start one)")
    p.add_argument("--management")
    args = p.parse_args(argv)
    kinds = bodies((PHOTOS / "0005.jpg").read_bytes(), (PHOTOS / "0100.jpg").read_bytes())
    with contextlib.ExitStack() as stack:
        if args.inference:
            urls = {"inference": args.inference, "management": args.management}
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            served = stack.enter_context(spawned_front_door(Path(tmp)))  # the front door and its TorchServe
            urls = {"inference": served["front"], "management": served["management"]}
        load(urls["inference"], kinds, args.clients, 20)  # warm-up: first-call optimisations, allocator pools
        rss, rows, seconds = [worker_rss(urls["management"])], [], args.minutes * 60
        for _ in range(args.samples):
            rows += load(urls["inference"], kinds, args.clients, seconds / args.samples)
            rss.append(worker_rss(urls["management"]))
        return report(rows, rss, args.rss_margin, seconds)


if __name__ == "__main__":
    sys.exit(main())

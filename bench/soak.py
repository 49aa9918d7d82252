"""python -m bench.soak: a bounded load test. Concurrent clients for a few minutes against the workflow and the
ensemble at once, with mixed requests (full, embedding_only, user labels, a bad upload, a batch of two).

Prints: requests and errors by status, 5xx count, stalls (responses slower than 3x the median of their kind,
TorchServe 0.12's lost-response symptom), and every worker's RSS after warm-up and at the end. Exits 1 when
there is a 5xx, a stall, or a worker whose RSS grew by more than --rss-margin (default 10 %).
Starts its own TorchServe on spare ports from model_store (or uses --inference/--management of a running one).
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
import psutil

from fashion.samples import synthetic_jpeg
from launcher import torchserve as ts
from launcher.__main__ import MODELS

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ROOT.parent / "shared" / "data" / "street_photos" / "photos"
ENDPOINTS = ("/wfpredict/fashion", "/predictions/fashion")


def bodies(photo: bytes, other: bytes) -> dict[str, tuple[bytes, str]]:
    b64, b64_other = base64.b64encode(photo).decode(), base64.b64encode(other).decode()
    return {"full": (photo, "image/jpeg"),
            "embedding_only": (json.dumps({"b64": b64, "embedding_only": True}).encode(), "application/json"),
            "labels": (json.dumps({"b64": b64_other, "labels": ["floral", "striped", "plain"]}).encode(),
                       "application/json"),
            "bad": (b"definitely not an image", "application/octet-stream"),
            "batch_of_two": (json.dumps({"images": [{"b64": b64}, {"b64": b64_other}]}).encode(), "application/json")}


def worker_rss(management: str) -> dict[str, int]:
    """model -> RSS in bytes of its worker processes (and their children)."""
    out = {}
    with httpx.Client(timeout=30) as http:
        for m in http.get(f"{management}/models").json()["models"]:
            total = 0
            for w in http.get(f"{management}/models/{m['modelName']}").json()[0]["workers"]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    proc = psutil.Process(w["pid"])
                    total += sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])
            out[m["modelName"]] = total
    return out


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


def report(rows: list[tuple], before: dict[str, int], after: dict[str, int], margin: float, seconds: float) -> int:
    failures = 0
    print(f"{len(rows)} requests in {seconds:.0f} s ({len(rows) / seconds:.2f}/s)")
    print("| endpoint | kind | n | statuses | median s | p95 s | max s | stalls (>3x median) |")
    print("|---|---|---:|---|---:|---:|---:|---:|")
    groups = collections.defaultdict(list)
    for endpoint, kind, status, latency in rows:
        groups[(endpoint, kind)].append((status, latency))
    for (endpoint, kind), items in sorted(groups.items()):
        lat = sorted(x for _, x in items)
        median = statistics.median(lat)
        stalls = sum(x > 3 * median for x in lat)
        statuses = dict(collections.Counter(s for s, _ in items))
        fivexx = sum(n for s, n in statuses.items() if s >= 500 or s == 0)
        failures += stalls + fivexx
        print(f"| {endpoint} | {kind} | {len(items)} | {statuses} | {median:.2f} | "
              f"{lat[int(0.95 * (len(lat) - 1))]:.2f} | {lat[-1]:.2f} | {stalls} |")
    print("\n| worker | RSS after warm-up MB | RSS at end MB | growth |")
    print("|---|---:|---:|---:|")
    for model in sorted(before):
        growth = (after.get(model, 0) - before[model]) / max(before[model], 1)
        failures += growth > margin
        print(f"| {model} | {before[model] / 2**20:.0f} | {after.get(model, 0) / 2**20:.0f} | {growth:+.1%} |")
    total_before, total_after = sum(before.values()), sum(after.values())
    print(f"| all workers | {total_before / 2**20:.0f} | {total_after / 2**20:.0f} | "
          f"{(total_after - total_before) / max(total_before, 1):+.1%} |")
    print("\nPASS" if not failures else f"\nFAIL ({failures} problems: 5xx, stalls or RSS over the margin)")
    return 0 if not failures else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=3.0)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--rss-margin", type=float, default=0.10, help="allowed RSS growth per worker (0.10 = 10 %%)")
    p.add_argument("--inference", help="a running TorchServe (default: start one)")
    p.add_argument("--management")
    args = p.parse_args(argv)
    kinds = bodies((PHOTOS / "0005.jpg").read_bytes(), (PHOTOS / "0100.jpg").read_bytes())
    with contextlib.ExitStack() as stack:
        if args.inference:
            urls = {"inference": args.inference, "management": args.management}
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory())
            urls = stack.enter_context(ts.temporary_server(ROOT / "config.properties", ROOT / "model_store",
                                                           Path(tmp), MODELS, synthetic_jpeg()))
        load(urls["inference"], kinds, args.clients, 20)  # warm-up: first-call optimisations, allocator pools
        before = worker_rss(urls["management"])
        seconds = args.minutes * 60
        rows = load(urls["inference"], kinds, args.clients, seconds)
        after = worker_rss(urls["management"])
        return report(rows, before, after, args.rss_margin, seconds)


if __name__ == "__main__":
    sys.exit(main())

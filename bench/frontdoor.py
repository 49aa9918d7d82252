"""python -m bench.frontdoor: what the front door costs, and how it behaves past capacity, side by side in one run.

Starts `python -m launcher serve` (the front door and its TorchServe) on spare ports, then:
1. cost: the same photo to TorchServe directly and through the front door, alternated, 1 client (p50/p95), then
   throughput at 8 and 32 clients on the ensemble, direct vs front door;
2. overload: 32 and 64 clients on the workflow, through the front door (clients wait out Retry-After after a
   503) and, for comparison, 32 straight to TorchServe: answered / shed (503) / failed (5xx, no answer), the
   slowest answer and the slowest refusal.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from bench.load import LoadResult, percentile, run_load
from bench.photos import DEFAULT_PHOTOS, pick_photos
from fashion import models as registry
from launcher.spawned import spawned_front_door


def alternate(urls: dict[str, str], body: bytes, runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in urls}
    with httpx.Client(timeout=300) as http:
        for i in range(2 * runs + 2):
            name = list(urls)[i % 2]
            start = time.perf_counter()
            r = http.post(urls[name], content=body, headers={"Content-Type": "image/jpeg"})
            assert r.status_code == 200, r.text[:200]
            if i >= 2:  # the first pair warms both paths
                times[name].append(time.perf_counter() - start)
    return times


def describe(result: LoadResult) -> str:
    counts = Counter(result.statuses)
    answered = [t for s, t in zip(result.statuses, result.latencies) if s == 200]
    shed = [t for s, t in zip(result.statuses, result.latencies) if s == 503]
    failed = {s: n for s, n in counts.items() if s not in (200, 503)}
    p50 = statistics.median(answered) if answered else 0.0
    p95 = percentile(answered, 95) if answered else 0.0
    return (f"{len(result.statuses):4d} requests: {len(answered):4d} answered (p50 {p50:5.2f} s, p95 {p95:5.2f} s, "
            f"max {max(answered, default=0):5.2f} s), {len(shed):4d} shed (max {max(shed, default=0) * 1000:5.0f} ms), "
            f"{sum(failed.values())} failed {failed}; {len(answered) / result.wall:.2f} answered/s")


def hop(pairs: int = 300) -> None:
    """The front door's own cost, without models: an instant stand-in upstream (a 40 KB JSON answer) on uvicorn,
    a photo sent to it directly and through the front door, alternated."""
    import threading

    import uvicorn

    from launcher import torchserve as ts
    from launcher.frontdoor import build_app
    from launcher.http_server import server_config
    from launcher.settings import FrontDoorSettings

    answer = b'{"garments":[' + b"1," * 20000 + b"1]}"

    async def upstream(scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": answer})

    def serve(config: uvicorn.Config) -> None:
        threading.Thread(target=uvicorn.Server(config).run, daemon=True).start()

    up, front = ts.free_port(), ts.free_port()
    app = build_app(FrontDoorSettings(), f"http://127.0.0.1:{up}")
    serve(uvicorn.Config(upstream, host="127.0.0.1", port=up, log_level="error"))
    serve(server_config(app, "127.0.0.1", front, drain_s=1.0))  # as served: the guarded protocol and guard
    time.sleep(2)
    app.state.frontdoor.ready = True
    photo = pick_photos(DEFAULT_PHOTOS, 1)[0].read_bytes()
    times = alternate({"stand-in directly": f"http://127.0.0.1:{up}{registry.ENSEMBLE_PATH}",
                       "through the front door": f"http://127.0.0.1:{front}{registry.ENSEMBLE_PATH}"}, photo, pairs)
    a, b = (statistics.median(t) for t in times.values())
    print(f"hop against an instant upstream ({len(photo)} B photo, {len(answer)} B answer): direct {a * 1000:.2f} ms, "
          f"through the front door {b * 1000:.2f} ms: {1000 * (b - a):+.2f} ms at p50")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.frontdoor", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=30, help="pairs of single requests for the p50")
    p.add_argument("--per-client", type=int, default=5)
    p.add_argument("--skip-overload", action="store_true")
    p.add_argument("--skip-cost", action="store_true", help="only the overload runs")
    p.add_argument("--hop", action="store_true", help="only the hop against an instant stand-in upstream")
    args = p.parse_args(argv)
    if args.hop:
        hop()
        return 0
    photos = [path.read_bytes() for path in pick_photos(DEFAULT_PHOTOS, 8)]
    with tempfile.TemporaryDirectory() as tmp, spawned_front_door(Path(tmp)) as urls:
        direct, front = urls["inference"], urls["front"]
        print(f"front door {front} -> TorchServe {direct}; in-flight limit per endpoint: "
              f"{httpx.get(front + '/frontdoor/stats').json()}")
        for path in () if args.skip_cost else (registry.ENSEMBLE_PATH, registry.WORKFLOW_PATH):
            times = alternate({"TorchServe directly": direct + path, "through the front door": front + path},
                              photos[0], args.runs)
            for name, t in times.items():
                print(f"{path:22s} 1 client  {name:24s} p50 {statistics.median(t) * 1000:7.1f} ms  "
                      f"p95 {percentile(t, 95) * 1000:7.1f} ms")
            a, b = (statistics.median(t) for t in times.values())
            print(f"{path:22s} front door cost at p50: {1000 * (b - a):+.1f} ms ({b / a:.3f}x)")
        for clients in () if args.skip_cost else (8, 32):
            for name, base in (("TorchServe directly", direct), ("through the front door", front)):
                result = run_load(base + registry.ENSEMBLE_PATH, photos, clients, args.per_client, timeout=300)
                print(f"/predictions/fashion {clients:2d} clients {name:24s} {describe(result)}")
        if not args.skip_overload:
            # TorchServe alone last: its failures under this load leave it slower for a while
            for clients, name, base in ((32, "through the front door", front), (64, "through the front door", front),
                                        (32, "TorchServe directly", direct)):
                result = run_load(base + registry.WORKFLOW_PATH, photos, clients, args.per_client, timeout=300,
                                  honour_retry_after=True)
                print(f"/wfpredict/fashion  {clients:2d} clients {name:24s} {describe(result)}")
        print(f"front door stats: {httpx.get(front + '/frontdoor/stats').json()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""python -m bench.v2_protocol: the Open Inference Protocol (KServe v2) against /predictions/fashion, side by side.

Starts `python -m launcher serve` on spare ports, then on the benchmark photo (0005.jpg) sends one request at a time
in turn to /predictions/fashion (the photo's bytes), v2 REST (Triton's HTTP client, binary data) and v2 gRPC
(Triton's gRPC client): p50/p95 per way and the ratio to /predictions/fashion; then 8 clients per way, each sending
the 8 benchmark photos in turn after one warm-up request: answered/s and its ratio. Last, the same 8 photos one by
one through each way: the answers' sections must be the same (garment labels, metadata labels, embedding cosine).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import httpx
import numpy as np

from bench.load import percentile
from bench.photos import DEFAULT_PHOTOS, machine_line, pick_photos
from client import v2
from launcher.spawned import spawned_front_door

BENCH_PHOTO = DEFAULT_PHOTOS / "0005.jpg"
Call = Callable[[bytes], dict]


def ways(front: str, grpc_address: str) -> dict[str, Callable[[], Call]]:
    """Each way as a factory of a caller (one per client thread: Triton's clients are not shared across threads)."""
    def predictions() -> Call:
        http = httpx.Client(timeout=300)

        def call(photo: bytes) -> dict:
            r = http.post(front + "/predictions/fashion", content=photo, headers={"Content-Type": "image/jpeg"})
            r.raise_for_status()
            return r.json()
        return call

    def over(transport: v2.Transport, address: str) -> Callable[[], Call]:
        def make() -> Call:
            client = v2.connect(address, transport)
            return lambda photo: v2.infer(client, transport, [photo]).responses[0]
        return make

    return {"/predictions/fashion": predictions, "v2 REST (binary)": over("rest", front.removeprefix("http://")),
            "v2 gRPC": over("grpc", grpc_address)}


def one_at_a_time(callers: dict[str, Call], photo: bytes, runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in callers}
    for i in range(runs + 1):
        for name, call in callers.items():
            start = time.perf_counter()
            call(photo)
            if i:  # the first round warms every way
                times[name].append(time.perf_counter() - start)
    return times


def throughput(make: Callable[[], Call], photos: list[bytes], clients: int, per_client: int) -> float:
    """Answers per second: each client thread makes its own caller (Triton's HTTP client lives on gevent and stays
    on the thread that made it), sends one warm-up request, then all start together."""
    ready = threading.Barrier(clients + 1)
    done: list[int] = []

    def client(i: int) -> None:
        call = make()
        call(photos[i % len(photos)])
        ready.wait()
        for k in range(per_client):
            call(photos[(i + k) % len(photos)])
        done.append(per_client)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    ready.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    if len(done) != clients:
        raise RuntimeError(f"{clients - len(done)} clients failed")
    return sum(done) / (time.perf_counter() - start)


def differences(reference: dict, other: dict) -> tuple[float, list[str]]:
    """The embedding cosine and what differs among the sections' labels."""
    problems = []
    if set(reference) != set(other):
        problems.append(f"sections {sorted(set(reference) ^ set(other))}")
    labels = [[g["label"] for g in r.get("garments", [])] for r in (reference, other)]
    if labels[0] != labels[1]:
        problems.append(f"garments {labels}")
    for field, value in reference.get("metadata", {}).items():
        if isinstance(value, dict) and value.get("label") != other["metadata"].get(field, {}).get("label"):
            problems.append(f"metadata.{field}")
    return float(np.dot(reference["embedding"], other["embedding"])), problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.v2_protocol", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=30, help="rounds of one request per way for the p50")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--per-client", type=int, default=4)
    args = p.parse_args(argv)
    photo = BENCH_PHOTO.read_bytes()
    photos = [path.read_bytes() for path in pick_photos(DEFAULT_PHOTOS, 8)]
    print(machine_line())
    with tempfile.TemporaryDirectory() as tmp, spawned_front_door(Path(tmp)) as urls:
        makers = ways(urls["front"], urls["grpc"])
        callers = {name: make() for name, make in makers.items()}
        times = one_at_a_time(callers, photo, args.runs)
        base = statistics.median(times["/predictions/fashion"])
        print(f"\n1 client, {BENCH_PHOTO.name} ({len(photo)} B), {args.runs} rounds, the ways in turn:")
        for name, t in times.items():
            print(f"  {name:22s} p50 {statistics.median(t) * 1000:7.1f} ms  p95 {percentile(t, 95) * 1000:7.1f} ms  "
                  f"{statistics.median(t) / base:.3f}x")
        print(f"\n{args.clients} clients x {args.per_client} requests, the 8 benchmark photos in turn (the mean of two "
              "passes, the ways in turn, then reversed):")
        rates = {name: 0.0 for name in makers}
        for order in (list(makers), list(makers)[::-1]):  # twice, in turn and reversed: drift falls on every way
            for name in order:
                rates[name] += throughput(makers[name], photos, args.clients, args.per_client) / 2
        for name, rate in rates.items():
            print(f"  {name:22s} {rate:6.2f} answered/s  {rate / rates['/predictions/fashion']:.3f}x")
        print("\nthe same 8 photos one by one through each way, against /predictions/fashion:")
        for name in list(callers)[1:]:
            cosines, problems = [], []
            for i, body in enumerate(photos):
                cosine, different = differences(callers["/predictions/fashion"](body), callers[name](body))
                cosines.append(cosine)
                problems += [f"photo {i}: {d}" for d in different]
            print(f"  {name:22s} embedding cosine min {min(cosines):.6f}; sections differ: {problems or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

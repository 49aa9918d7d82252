"""Concurrent HTTP clients against one endpoint: latencies and statuses (used by bench and e2e tests)."""
from __future__ import annotations

import concurrent.futures
import dataclasses
import statistics
import time

import httpx


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank q-th percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


@dataclasses.dataclass
class LoadResult:
    statuses: list[int]
    latencies: list[float]  # seconds, per request
    wall: float

    @property
    def median(self) -> float:
        return statistics.median(self.latencies)

    def percentile(self, q: float) -> float:
        return percentile(self.latencies, q)

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.wall


def run_load(url: str, body: bytes, clients: int, per_client: int, timeout: float = 120.0) -> LoadResult:
    """`clients` threads each send `per_client` POSTs of `body` one after another."""
    def client(_: int) -> list[tuple[int, float]]:
        out = []
        with httpx.Client(timeout=timeout) as http:
            for _ in range(per_client):
                start = time.perf_counter()
                status = http.post(url, content=body, headers={"Content-Type": "image/jpeg"}).status_code
                out.append((status, time.perf_counter() - start))
        return out

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = [r for rs in pool.map(client, range(clients)) for r in rs]
    return LoadResult([s for s, _ in results], [t for _, t in results], time.perf_counter() - start)

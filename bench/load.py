"""Concurrent HTTP clients against one endpoint: latencies and statuses (used by bench and e2e tests)."""
from __future__ import annotations

import concurrent.futures
import dataclasses
import contextlib
import statistics
import time

import httpx
import psutil


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


def run_load(url: str, body: bytes | list[bytes], clients: int, per_client: int,
             timeout: float = 120.0, honour_retry_after: bool = False) -> LoadResult:
    """`clients` threads each send `per_client` POSTs one after another; several bodies are taken in turn
    (client i starts at body i). With honour_retry_after, a client told 503 + Retry-After waits that long before
    its next request, as a well-behaved client does."""
    bodies = body if isinstance(body, list) else [body]

    def client(i: int) -> list[tuple[int, float]]:
        out = []
        with httpx.Client(timeout=timeout) as http:
            for k in range(per_client):
                start = time.perf_counter()
                content = bodies[(i + k) % len(bodies)]
                try:
                    r = http.post(url, content=content, headers={"Content-Type": "image/jpeg"})
                    status = r.status_code
                except httpx.TimeoutException:
                    status, r = 0, None  # 0: no answer within the client's timeout
                out.append((status, time.perf_counter() - start))
                if honour_retry_after and r is not None and status == 503:
                    time.sleep(float(r.headers.get("retry-after", "1")))
        return out

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = [r for rs in pool.map(client, range(clients)) for r in rs]
    return LoadResult([s for s, _ in results], [t for _, t in results], time.perf_counter() - start)


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

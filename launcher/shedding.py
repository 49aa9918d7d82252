"""Load shedding: at most N requests in flight per endpoint; past that, a fast 503 with Retry-After.

TorchServe queues whatever it is sent, and its workflow node timeout counts the time spent in that queue: under
more clients than the CPU can serve within the timeout, queued requests time out, are retried and end as late
500s (issue 11: 8 of 160 at 32 clients, after ~30 s). Bounding what is in flight keeps every accepted request
within the latency budget and refuses the rest at once, so a client (or the catalogue job) retries later.
"""
from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass
class Inflight:
    """The requests in flight to one endpoint, bounded by `limit`, and the recent service time."""
    limit: int
    active: int = 0
    shed: int = 0
    service_s: float = 1.0  # exponentially weighted mean time of an answered request

    def try_acquire(self) -> bool:
        if self.active >= self.limit:
            self.shed += 1
            return False
        self.active += 1
        return True

    def release(self, seconds: float | None = None) -> None:
        self.active -= 1
        if seconds is not None:
            self.service_s += 0.2 * (seconds - self.service_s)

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: one mean service time, rounded up."""
        return max(1, math.ceil(self.service_s))


class Shedder:
    """One Inflight per endpoint (created on first use), all with the same limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.endpoints: dict[str, Inflight] = {}

    def __getitem__(self, endpoint: str) -> Inflight:
        if endpoint not in self.endpoints:
            self.endpoints[endpoint] = Inflight(self.limit)
        return self.endpoints[endpoint]

    def stats(self) -> dict[str, dict[str, float]]:
        return {name: {"limit": e.limit, "active": e.active, "shed": e.shed, "service_s": round(e.service_s, 3)}
                for name, e in self.endpoints.items()}

"""The enrichment job: every record of a source through an engine, into DEST, resumable, nothing lost.

Batches of `batch` images go out on `concurrency` threads; each answer is journalled (catalogue.store) before
the next batch is counted, so a rerun after any interruption skips what was recorded and does the rest. A
server that cannot answer (503, 429, connection refused, a restart) is retried with exponential backoff
(honouring Retry-After); after `retries` failed tries the job stops with what it has saved. An image the
service refuses (or a file that cannot be read or fetched) becomes a row with its error code and message.
"""
from __future__ import annotations

import collections
import concurrent.futures as cf
import dataclasses
import random
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx

from catalogue import rows
from catalogue.engines import Engine, Unavailable
from catalogue.sources import Record
from catalogue.store import Journal

MAX_BACKOFF_S = 30.0
FETCH_LIMIT_BYTES = 64 * 1024 * 1024


class JobStopped(RuntimeError):
    """The server stayed unavailable; everything answered so far is saved (rerun to resume)."""


@dataclasses.dataclass
class Summary:
    total: int = 0
    skipped: int = 0  # already in DEST or its journal
    done: int = 0
    refused: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    garments: int = 0
    retries: int = 0
    elapsed_s: float = 0.0

    def count(self, status: str, error_code: int | None, garments: int) -> None:
        """One image's row: answered (with its garments) or refused (by its code)."""
        if status == "ok":
            self.done += 1
            self.garments += garments
        else:
            self.refused[error_code] += 1

    @property
    def rate(self) -> float:
        return (self.done + sum(self.refused.values())) / self.elapsed_s if self.elapsed_s else 0.0

    def lines(self) -> list[str]:
        refused = ", ".join(f"{code}: {n}" for code, n in sorted(self.refused.items())) or "none"
        return [f"images: {self.total} ({self.skipped} already done)",
                f"answered: {self.done}; refused: {sum(self.refused.values())} ({refused})",
                f"garments: {self.garments}; retried requests: {self.retries}",
                f"throughput: {self.rate:.2f} img/s over {self.elapsed_s:.1f} s"]


def read_image(record: Record, http: httpx.Client | None = None) -> bytes | dict[str, Any]:
    """The record's bytes, or the error row content when they cannot be had."""
    if record.data is not None:
        return record.data
    try:
        if record.is_url:
            assert http is not None
            r = http.get(record.source, follow_redirects=True)
            if r.status_code != 200:
                return {"code": 424, "type": "FetchError", "message": f"GET {record.source}: HTTP {r.status_code}"}
            if len(r.content) > FETCH_LIMIT_BYTES:
                return {"code": 413, "type": "FetchError",
                        "message": f"{record.source} is over {FETCH_LIMIT_BYTES} bytes"}
            return r.content
        if record.is_uri:
            import fsspec

            with fsspec.open(record.source, "rb") as f:
                data = f.read(FETCH_LIMIT_BYTES + 1)
            if len(data) > FETCH_LIMIT_BYTES:
                return {"code": 413, "type": "FetchError",
                        "message": f"{record.source} is over {FETCH_LIMIT_BYTES} bytes"}
            return data
        return Path(record.source).read_bytes()
    except (ImportError, ValueError) as exc:  # fsspec: no package for this protocol, or a malformed URI
        return {"code": 424, "type": "ReadError", "message": f"{record.source}: {exc}"}
    except (OSError, httpx.HTTPError) as exc:
        return {"code": 424 if record.is_url or record.is_uri else 400, "type": "ReadError",
                "message": f"{record.source}: {exc}"}


def batches(records: list[Record], size: int) -> Iterator[list[Record]]:
    for i in range(0, len(records), size):
        yield records[i:i + size]


class Job:
    def __init__(self, engine: Engine, journal: Journal | None, parameters: dict[str, Any], batch: int = 4,
                 concurrency: int = 8, retries: int = 8, sleep: Callable[[float], None] = time.sleep) -> None:
        self.engine, self.journal, self.parameters = engine, journal, parameters
        self.batch, self.concurrency, self.retries, self.sleep = max(1, batch), max(1, concurrency), retries, sleep
        self.summary = Summary()
        self.fetcher = httpx.Client(timeout=30.0)

    def answer_rows(self, batch: list[Record]) -> list[dict[str, Any]]:
        """One batch -> its rows (answered or refused), retrying while the server is unavailable."""
        images, out = [], {}
        for rec in batch:
            data = read_image(rec, self.fetcher)
            if isinstance(data, dict):
                out[rec.id] = rows.refused(rec, data)
            else:
                images.append((rec, data))
        if images:
            for attempt in range(self.retries + 1):
                try:
                    results = self.engine.answer([d for _, d in images], self.parameters)
                    break
                except Unavailable as exc:
                    if attempt == self.retries:
                        raise JobStopped(f"{exc}; stopped after {self.retries} retries") from None
                    self.summary.retries += 1
                    wait = exc.retry_after or min(MAX_BACKOFF_S, 0.5 * 2 ** attempt)
                    self.sleep(wait * (0.75 + random.random() / 2))
            for (rec, _), res in zip(images, results):
                out[rec.id] = rows.refused(rec, res["error"]) if "error" in res else rows.answered(rec, res)
        return [out[r.id] for r in batch]

    def run(self, records: list[Record], progress: Any = None) -> Summary:
        s = self.summary
        s.total = len(records)
        todo = [r for r in records if r.id not in self.journal.done]
        s.skipped = s.total - len(todo)
        start = time.monotonic()
        pool = cf.ThreadPoolExecutor(self.concurrency, thread_name_prefix="enrich")
        pending: set[cf.Future] = set()
        try:
            for b in batches(todo, self.batch):
                pending.add(pool.submit(self.answer_rows, b))
                if len(pending) >= 2 * self.concurrency:
                    pending = self._collect(pending, progress)
            while pending:
                pending = self._collect(pending, progress)
        finally:
            for f in pending:
                f.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            self.fetcher.close()
            s.elapsed_s = time.monotonic() - start
        return s

    def _collect(self, pending: set[cf.Future], progress: Any) -> set[cf.Future]:
        finished, rest = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
        for f in finished:
            batch_rows = f.result()  # JobStopped propagates: what was journalled stays
            self.journal.append(batch_rows)
            for row in batch_rows:
                self.summary.count(row["status"], row["error_code"], len(row.get("garments") or []))
            if progress is not None:
                progress.update(len(batch_rows))
        return rest

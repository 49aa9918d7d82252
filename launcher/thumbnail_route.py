"""GET /thumbnail?id=PRODUCT on the front door: a similar product's picture for the page.

The id is looked up in the loaded catalogue index (catalogue.index: sources.parquet); only the image the index
names for it is read (catalogue.thumbnails), so a request can name a product but never a path or a URL. An
unknown id, or one whose image cannot be read now, answers 404 in the error shape. Answers are JPEG, at most
THUMBNAIL_SIDE pixels a side, cached in memory (CACHE_SIZE, functools.lru_cache) and by the browser
(Cache-Control).
"""
from __future__ import annotations

import functools
import threading

import httpx
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from fashion.errors import InvalidInput, NotFound
from launcher.door import Door, error
from launcher.search_route import THUMBNAIL_PATH, NoIndex, SearchService

QUERY_KEYS = ("id",)
CACHE_SIZE = 512  # thumbnails kept (about 10 KB each)
FETCH_TIMEOUT_S = 10.0
HEADERS = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}


class ThumbnailRoutes:
    def __init__(self, door: Door, service: SearchService) -> None:
        self.door, self.service = door, service
        self.lock = threading.Lock()  # the one HTTP client, made on the first URL source
        self.http: httpx.Client | None = None
        self._read = functools.lru_cache(maxsize=CACHE_SIZE)(self._make)  # failures are not cached

    def _make(self, product_id: str, source: str) -> bytes:
        from catalogue.thumbnails import thumbnail  # here, as the index is: a door without a catalogue still starts

        if "://" in source:
            with self.lock:
                self.http = self.http or httpx.Client(timeout=FETCH_TIMEOUT_S, follow_redirects=True)
        return thumbnail(product_id, source, self.http)

    async def thumbnail(self, request: Request) -> Response:
        params = request.query_params
        if unknown := sorted(set(params) - set(QUERY_KEYS)):
            return error(InvalidInput(f"unknown query parameter(s) {[u[:40] for u in unknown[:8]]}; /thumbnail "
                                      f"reads {list(QUERY_KEYS)}"))
        product_id = params.get("id", "")
        if not product_id:
            return error(InvalidInput("name a product: /thumbnail?id=PRODUCT (a search hit's `thumbnail`)"))
        index = self.service.index
        if index is None:
            return error(NoIndex(self.service.reason))
        source = index.sources.get(product_id)
        if source is None:
            return error(NotFound(f"the catalogue index has no image for product {product_id[:64]!r}"))

        async def answer() -> Response:
            try:
                data = await run_in_threadpool(self._read, product_id, source)
            except OSError as exc:  # catalogue.thumbnails.Unreadable, or the file system's own
                raise NotFound(f"the image of product {product_id[:64]!r} cannot be read now "
                               f"({str(exc)[:200]})") from None
            return Response(data, media_type="image/jpeg", headers=HEADERS)

        return await self.door.guarded(THUMBNAIL_PATH, answer)

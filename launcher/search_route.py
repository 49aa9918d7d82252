"""POST /search on the front door: the catalogue index next to the predictions.

Why a front-door route and not a TorchServe archive: the index is one structure per container (a TorchServe
model would hold a copy per worker), a query takes about a millisecond and needs no batching, and it composes
the models TorchServe already serves (the text tower for words, the pipeline for an image's garments).
On Vertex AI only the predict and health routes reach a container, so there the same index is meant for Vertex
AI Vector Search (python -m catalogue vector-search); this route serves Docker, Kubernetes and local runs.

The index folder: FASHION_INDEX, else AIP_STORAGE_URI's index/ folder (a local path; a gs:// one is copied
with the gcloud CLI), else none (the route answers 404 saying how to configure one).
Request: JSON {"text": "red dress"} | {"vector": [...]} | {"b64": IMAGE, "garment": N | "box": [x0, y0, x1, y1]}
with "k" (1-100, default 10), "scope" ("images", "garments", "all") and "where" (a filter:
'gender = "Women" AND articleType IN ("Dresses", "Skirts")', catalogue/filters.py); or a raw image body with the same
as query parameters. Answer: {"query": {...}, "hits": [{"id", "score", "garment", "label", "box", "thumbnail"
(GET it: the product's picture, launcher.thumbnail_route; null when the index holds no image for it), and the
fields a filter reads: gender, articleType, ..., garment.<field>}],
"index": {...}}; errors in the response contract's error shape.
"""
from __future__ import annotations

import base64
import binascii
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from fashion import models as registry
from fashion.errors import InvalidInput, NotReady, PayloadTooLarge, RequestError, Unprocessable, UnsupportedMedia
from fashion.request.json_bounds import check_json_text
from fashion.request.limits import limits
from fashion.request.options import as_number
from launcher.door import Door, error, json_response

# what a query string may set (a raw image body's options)
QUERY_KEYS = ("k", "scope", "garment", "box", "text", "where")
JSON_KEYS = (*QUERY_KEYS, "vector", "b64")
QUERY_OPTIONS = {"include": ["garments", "embedding"], "mask_format": "none"}
THUMBNAIL_PATH = "/thumbnail"  # launcher.thumbnail_route


def thumbnail_url(product_id: str) -> str:
    """What a hit's `thumbnail` names: the product's picture on this front door."""
    return f"{THUMBNAIL_PATH}?id={quote(product_id, safe='')}"


class NoIndex(RequestError):
    code, phrase = 404, "Not Found"


def index_folder(index_dir: str | None, uri: str | None) -> Path | None:
    """Where the index is: FASHION_INDEX, else AIP_STORAGE_URI/index (copied locally first from gs://)."""
    if index_dir:
        return Path(index_dir)
    if not uri:
        return None
    if uri.startswith("gs://"):
        gcloud = shutil.which("gcloud")
        if gcloud is None:
            return None
        dest = Path(tempfile.mkdtemp(prefix="fashion-index-"))
        done = subprocess.run([gcloud, "storage", "cp", "-r", f"{uri.rstrip('/')}/index/*", str(dest)],
                              capture_output=True)
        return dest if done.returncode == 0 else None
    folder = Path(uri) / "index"
    return folder if (folder / "index.json").is_file() else None


def finite_vector(value: Any) -> np.ndarray:
    """A query vector: 1 to max_vector_dim finite numbers."""
    most = limits().max_vector_dim
    ok = (isinstance(value, list) and 0 < len(value) <= most
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))
    vector = np.asarray(value, np.float64) if ok else None
    if vector is None or not np.isfinite(vector).all() or np.abs(vector).max() > 3.4e38:
        raise InvalidInput(f"'vector' must be a list of 1 to {most} finite numbers (MAX_VECTOR_DIM)")
    return vector.astype(np.float32)


def finite_box(value: Any) -> list[float]:
    """A box [x0, y0, x1, y1] (a list, or "x0,y0,x1,y1" in a query string) of finite numbers."""
    parts = value.split(",") if isinstance(value, str) else value
    if not isinstance(parts, list) or len(parts) != 4:
        raise InvalidInput("'box' must be four numbers [x0, y0, x1, y1]")
    return [as_number("box", v, float, -1e6, 1e6) for v in parts]


class SearchService:
    """The loaded index (or why there is none) and the calls that turn a query into a vector."""

    def __init__(self, folder: Path | None) -> None:
        self.index, self.reason = None, ("no catalogue index is configured: `make demo-index` builds one from "
                                         "product photos (FASHION_CATALOGUE) and `make serve` serves it; or build "
                                         "one with `python -m catalogue index DEST --out FOLDER` and set "
                                         "FASHION_INDEX=FOLDER")
        if folder is not None:
            from catalogue.index import CatalogueIndex

            try:
                self.index = CatalogueIndex.open(folder)
            except (OSError, ValueError, RuntimeError) as exc:
                self.reason = f"the catalogue index in {folder} could not be loaded ({exc})"

    def info(self) -> dict[str, Any] | None:
        return None if self.index is None else self.index.info()

    @staticmethod
    async def parse(request: Request, body: bytes) -> dict[str, Any]:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        params: dict[str, Any] = dict(request.query_params)
        if unknown := sorted(set(params) - set(QUERY_KEYS)):
            raise InvalidInput(f"unknown query parameter(s) {[u[:40] for u in unknown[:8]]}; /search reads "
                               f"{list(QUERY_KEYS)}")
        if kind == "application/json" or body[:1] in (b"{",):
            try:
                obj = json.loads(body)
            except (ValueError, RecursionError):
                raise InvalidInput("the body is not valid JSON") from None
            check_json_text(obj, body)
            if not isinstance(obj, dict):
                raise InvalidInput('a search is a JSON object: {"text": ...}, {"vector": [...]} or {"b64": ...}')
            if unknown := sorted(set(obj) - set(JSON_KEYS)):
                raise InvalidInput(f"unknown key(s) {[u[:40] for u in unknown[:8]]}; a search reads {list(JSON_KEYS)}")
            params.update(obj)
        elif body:
            params["image"] = body
        if "b64" in params:
            try:
                params["image"] = base64.b64decode(str(params.pop("b64")).split(",")[-1], validate=True)
            except (binascii.Error, ValueError):
                raise InvalidInput("'b64' is not valid base64") from None
        given = [k for k in ("text", "vector", "image") if params.get(k) not in (None, "", b"")]
        if len(given) != 1:
            raise InvalidInput('a search needs exactly one of "text", "vector" or an image ("b64" or the body)')
        return params

    async def vector(self, client: httpx.AsyncClient, q: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        from catalogue.query import pick_garment

        if "text" in q:
            text = q["text"]
            if not isinstance(text, str) or not text.strip():
                raise InvalidInput("'text' must be a non-empty string")
            if len(text) > limits().max_text_chars:
                raise PayloadTooLarge(f"'text' has {len(text)} characters; the limit is {limits().max_text_chars} "
                                      "(MAX_TEXT_CHARS)")
            r = await client.post("/predictions/embedder", json={"text": [text]})
            return np.asarray(self._ok(r)["embeddings"][0], np.float32), {"text": text}
        if "vector" in q:
            return finite_vector(q["vector"]), {"vector": len(q["vector"])}
        r = await client.post(registry.ENSEMBLE_PATH, content=json.dumps(
            {"b64": base64.b64encode(q["image"]).decode(), **QUERY_OPTIONS}),
            headers={"Content-Type": "application/json"})
        answer = self._ok(r)
        if q.get("garment") is None and q.get("box") is None:
            return np.asarray(answer["embedding"], np.float32), {"image": True,
                                                                  "garments": len(answer.get("garments") or [])}
        box = None if q.get("box") is None else finite_box(q["box"])
        number = None if q.get("garment") is None else as_number("garment", q["garment"], int, 0, 1000)
        g = pick_garment(answer.get("garments") or [], number, box)
        return np.asarray(g["embedding"], np.float32), {"image": True, "garment": {"label": g["label"],
                                                                                   "box": g["box"]}}

    @staticmethod
    def _ok(r: httpx.Response) -> dict[str, Any]:
        if r.status_code == 200:
            return r.json()
        try:
            err = r.json()["error"]
            message, code = err["message"], int(err["code"])
        except (ValueError, KeyError, TypeError):
            message, code = r.text[:200], r.status_code
        if 400 <= code < 500:  # the query image's own refusal, with its code (415, 422, ...)
            refused = next((c for c in (InvalidInput, PayloadTooLarge, UnsupportedMedia, Unprocessable)
                            if c.code == code), InvalidInput)
            raise refused(f"the query was refused: {message}")
        raise NotReady(f"the models could not answer the query ({code}: {message})")

    async def search(self, client: httpx.AsyncClient, request: Request, body: bytes) -> dict[str, Any]:
        if self.index is None:
            raise NoIndex(self.reason)
        q = await self.parse(request, body)
        k = as_number("k", q.get("k", 10), int, 1, limits().max_search_k)
        scope = str(q.get("scope", "images"))[:40]
        from catalogue.filters import FilterError, parse as parse_where
        from catalogue.index import IndexRefused

        try:
            where = None if q.get("where") in (None, "") else parse_where(q["where"])
        except FilterError as exc:
            raise InvalidInput(str(exc)) from None
        vector, query = await self.vector(client, q)
        try:
            hits = await run_in_threadpool(self.index.search, vector, k, scope, None, where)
        except IndexRefused as exc:
            raise InvalidInput(str(exc)) from None
        filters = {} if where is None else where.to_dict()
        for hit in hits:
            hit["thumbnail"] = thumbnail_url(hit["id"]) if hit["id"] in self.index.sources else None
        return {"query": {**query, "k": k, "scope": scope, **filters}, "hits": hits, "index": self.index.info()}


class SearchRoutes:
    """/search: the body read and checked before a slot is taken, then the index answers (SearchService)."""

    def __init__(self, door: Door, service: SearchService) -> None:
        self.door, self.service = door, service

    async def search(self, request: Request) -> Response:
        if (refused := self.door.not_ready()) is not None:
            return refused
        try:
            body = await self.door.body(request, self.door.settings.max_request_bytes, self.door.general_limit)
        except RequestError as exc:
            return error(exc)

        async def answer() -> Response:
            assert self.door.state.client is not None
            return json_response(await self.service.search(self.door.state.client, request, body))

        return await self.door.guarded("/search", answer)

"""predict: who answers the catalogue's images. A running endpoint over HTTP (the front door, TorchServe or a
Vertex AI endpoint), or the pipeline in this process (--local). Both take Vertex-shaped request bodies and give
one response object or one {"error": {...}} per image; a server that cannot answer now raises Unavailable."""
from __future__ import annotations

import hashlib
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Protocol

import httpx

from fashion.request.limits import VERTEX_REQUEST_BYTES

from client.auth import access_token
from client.payload import vertex_body

TRANSIENT = frozenset({429, 502, 503, 504})  # retried with backoff; anything else is the image's answer


class Unavailable(Exception):
    """The server cannot answer now (overloaded, restarting, unreachable); retry after `retry_after` s."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Engine(Protocol):
    def answer(self, images: list[bytes], parameters: dict[str, Any]) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...


def _predictions(payload: Any, count: int) -> list[dict[str, Any]]:
    """The per-image objects of a 200 answer (Vertex {"predictions": [...]}, a list, or one object)."""
    items = payload.get("predictions") if isinstance(payload, dict) and "predictions" in payload else payload
    items = items if isinstance(items, list) else [items]
    if len(items) != count:
        raise ValueError(f"the server answered {len(items)} results for {count} images")
    return items


def _error(status: int, body: bytes) -> dict[str, Any]:
    try:
        err = httpx.Response(status, content=body).json()["error"]
        if isinstance(err, dict):
            return {"error": {"code": int(err.get("code", status)), "type": err.get("type"),
                              "message": err.get("message", "")}}
    except (ValueError, KeyError, TypeError):
        pass
    return {"error": {"code": status, "type": "HTTPError", "message": body[:300].decode("utf-8", "replace")}}


def one_by_one(engine: Engine, images: list[bytes], parameters: dict[str, Any]) -> list[dict[str, Any]]:
    """A batch refused as a whole, asked again image by image, so only the bad image is refused."""
    return [res for im in images for res in engine.answer([im], parameters)]


class RemoteEngine:
    """POSTs {"instances": [{"b64": ...}, ...], "parameters": ...} to `url` (one pooled client, thread-safe)."""

    def __init__(self, url: str, timeout_s: float = 120.0, max_bytes: int = VERTEX_REQUEST_BYTES,
                 token: str | None = None) -> None:
        self.url, self.max_bytes = url, max_bytes
        headers = {"Content-Type": "application/json"}
        token = access_token(url, token)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(timeout=httpx.Timeout(timeout_s, connect=10.0), headers=headers,
                                 limits=httpx.Limits(max_connections=64, max_keepalive_connections=64))

    def answer(self, images: list[bytes], parameters: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            body = vertex_body(images, parameters, self.max_bytes)
        except (ValueError, OSError) as exc:  # too big even shrunk, or a file Pillow cannot open to shrink it
            if len(images) > 1:
                return one_by_one(self, images, parameters)
            code, kind = (413, "PayloadTooLarge") if isinstance(exc, ValueError) else (415, "UnsupportedMediaType")
            return [{"error": {"code": code, "type": kind, "message": str(exc)}}]
        try:
            r = self.http.post(self.url, content=body)
        except httpx.HTTPError as exc:
            raise Unavailable(f"{self.url} did not answer ({type(exc).__name__}: {exc})") from None
        if r.status_code in TRANSIENT:
            after = r.headers.get("retry-after", "")
            raise Unavailable(f"{self.url} answered {r.status_code}", float(after) if after.isdigit() else None)
        if r.status_code == 200:
            return _predictions(r.json(), len(images))
        if len(images) > 1:  # a refusal of the whole request: ask image by image, so only the bad one is refused
            return one_by_one(self, images, parameters)
        return [_error(r.status_code, r.content)]

    def close(self) -> None:
        self.http.close()


def model_folder(models: Path) -> Path:
    """An export folder as it is, or an ensemble archive (model_store/fashion.mar: every model's files) unpacked
    once into a cache folder beside the system's temporary files (keyed by the archive's path, size and time)."""
    models = Path(models)
    if models.is_dir() or models.suffix != ".mar":
        return models
    stat = models.stat()
    key = hashlib.sha1(f"{models.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"fashion-models-{key}"
    if not folder.is_dir():
        staging = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
        with zipfile.ZipFile(models) as z:
            z.extractall(staging)
        try:
            staging.rename(folder)
        except OSError:  # another process unpacked it first
            shutil.rmtree(staging, ignore_errors=True)
    return folder


class ModelsMissing(SystemExit):
    """The models folder holds no export: the message names the make target that writes one. A SystemExit for
    the command line; `check_models` raises it before any job starts."""


def check_models(models: Path) -> Path:
    """The export folder `models` names (an ensemble archive unpacked), or ModelsMissing saying what to run."""
    if not Path(models).exists():
        raise ModelsMissing(f"{models} does not exist; run `make archives` (it writes build/export and "
                            "model_store/fashion.mar)")
    folder = model_folder(Path(models))
    if not (Path(folder) / "segmenter.json").is_file():
        raise ModelsMissing(f"{models} holds no exported models; run `make archives` (it writes build/export)")
    return folder


class LocalEngine:
    """The three models in this process (fashion.pipeline.Pipeline over an export folder or the ensemble
    archive); same bodies."""

    def __init__(self, model_dir: Path, threads: int | None = None) -> None:
        import torch

        from fashion.pipeline import Pipeline

        if threads:  # the backends take torch's setting (fashion.backends); OpenVINO's answers vary with it
            torch.set_num_threads(threads)
        model_dir = check_models(model_dir)
        self.pipeline = Pipeline.load(model_dir)

    def answer(self, images: list[bytes], parameters: dict[str, Any]) -> list[dict[str, Any]]:
        payload, status = self.pipeline([{"body": vertex_body(images, parameters, 0)}])[0]
        if status != 200:
            if len(images) > 1:
                return one_by_one(self, images, parameters)
            return [payload if "error" in payload else _error(status, b"")]
        return _predictions(payload, len(images))

    def close(self) -> None:
        pass

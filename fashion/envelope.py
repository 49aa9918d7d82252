"""What passes between workflow nodes: one binary envelope per request, never pickle.

Layout: MAGIC, a 4-byte header length, a JSON header, then raw blobs (the encoded image or the next models'
uint8 input pixels (fashion.handoff), float32 embeddings) referenced from the header by offset. Bytes pass
between TorchServe nodes raw (~10 ms/MB);
JSON lists of floats would cost far more.
"""
from __future__ import annotations

import dataclasses
import json
import struct
from typing import Any

import numpy as np
import torch
from PIL import Image

from fashion.errors import InvalidInput
from fashion.manifest import InputSpec
from fashion.options import Options
from fashion.segment import Garment

MAGIC = b"FSHNENV1"


@dataclasses.dataclass
class ImageResult:
    """One image's typed result, filled in stage by stage (the state that travels between workflow nodes)."""
    image: bytes | None = None  # the encoded upload (dropped where its input pixels are passed on instead)
    size: tuple[int, int] | None = None  # (width, height)
    error: dict[str, Any] | None = None
    garments: list[Garment] | None = None
    garment_embeddings: np.ndarray | None = None
    embedding: np.ndarray | None = None
    metadata: dict[str, Any] | None = None
    tags: list[dict[str, Any]] | None = None  # scores of the user's labels for the whole image
    garment_tags: list[list[dict[str, Any]]] | None = None
    prompt: dict[str, Any] | None = None  # {"text", "scores" (per garment), "selected", "threshold"}
    pil: Image.Image | None = dataclasses.field(default=None, repr=False)  # decoded pixels, never sent
    rgb: np.ndarray | None = dataclasses.field(default=None, repr=False)  # the same as uint8 (H, W, 3), never sent
    # model input pixels per input spec (fashion.preprocess.model_pixels), made once and shared by models
    pixels: dict[InputSpec, torch.Tensor] = dataclasses.field(default_factory=dict, repr=False)


@dataclasses.dataclass
class Envelope:
    shape: str
    options: Options
    items: list[ImageResult]
    models: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    error: dict[str, Any] | None = None  # a whole-request error (its 4xx code inside)
    texts: list[str] | None = None


def is_envelope(data: Any) -> bool:
    return isinstance(data, (bytes, bytearray)) and bytes(data[:len(MAGIC)]) == MAGIC


def pack(env: Envelope) -> bytes:
    blobs: list[bytes] = []
    offset = 0

    def blob(data: bytes) -> list[int]:
        nonlocal offset
        blobs.append(data)
        offset += len(data)
        return [offset - len(data), len(data)]

    items = []
    for it in env.items:
        h: dict[str, Any] = {"size": it.size, "error": it.error, "metadata": it.metadata, "tags": it.tags,
                             "garment_tags": it.garment_tags, "prompt": it.prompt}
        if it.image is not None:
            h["image"] = blob(it.image)
        if it.garments is not None:
            h["garments"] = [g.to_wire() for g in it.garments]
        for name in ("embedding", "garment_embeddings"):
            arr = getattr(it, name)
            if arr is not None:
                arr = np.ascontiguousarray(arr, dtype=np.float32)
                h[name] = {"blob": blob(arr.tobytes()), "shape": list(arr.shape)}
        if it.pixels:
            h["pixels"] = [{"spec": dataclasses.asdict(spec), "blob": blob(px.contiguous().numpy().tobytes()),
                            "shape": list(px.shape)} for spec, px in it.pixels.items()]
        items.append(h)
    header = json.dumps({"shape": env.shape, "options": env.options.to_dict(), "models": env.models,
                         "error": env.error, "texts": env.texts, "items": items}, separators=(",", ":")).encode()
    return b"".join([MAGIC, struct.pack("<I", len(header)), header, *blobs])


def unpack(data: bytes) -> Envelope:
    if not is_envelope(data):
        raise InvalidInput("not a workflow envelope")
    data = memoryview(data)
    (n,) = struct.unpack("<I", data[len(MAGIC):len(MAGIC) + 4])
    start = len(MAGIC) + 4
    header = json.loads(bytes(data[start:start + n]))
    base = start + n

    def blob(ref: list[int]) -> memoryview:
        return data[base + ref[0]:base + ref[0] + ref[1]]

    items = []
    for h in header["items"]:
        it = ImageResult(size=tuple(h["size"]) if h.get("size") else None, error=h.get("error"),
                         metadata=h.get("metadata"), tags=h.get("tags"), garment_tags=h.get("garment_tags"),
                         prompt=h.get("prompt"))
        if "image" in h:
            it.image = bytes(blob(h["image"]))
        if "garments" in h:
            it.garments = [Garment.from_wire(g) for g in h["garments"]]
        for name in ("embedding", "garment_embeddings"):
            if name in h:
                arr = np.frombuffer(blob(h[name]["blob"]), dtype=np.float32).reshape(h[name]["shape"])
                setattr(it, name, arr.copy())
        for p in h.get("pixels", ()):
            arr = np.frombuffer(blob(p["blob"]), dtype=np.uint8).reshape(p["shape"]).copy()
            it.pixels[InputSpec.from_dict(p["spec"])] = torch.from_numpy(arr)
        items.append(it)
    opts = header["options"]
    opts["include"] = tuple(opts["include"])
    opts["labels"] = tuple(opts.get("labels", ()))
    return Envelope(header["shape"], Options(**opts), items, header.get("models", []),
                    header.get("error"), header.get("texts"))

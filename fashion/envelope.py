"""What passes between workflow nodes: one binary envelope per request (fashion.results.Envelope), never pickle.

Layout: MAGIC, a 4-byte header length, a JSON header, then raw blobs (the encoded image or the next models'
uint8 input pixels (fashion.request.handoff), the outputs' float32 arrays) referenced from the header by offset. The
stages' typed outputs (fashion.results.Output) travel by kind: their array fields as blobs, the rest as JSON.
Bytes pass between TorchServe nodes raw (~10 ms/MB); JSON lists of floats would cost far more.
"""
from __future__ import annotations

import dataclasses
import json
import struct
from typing import Any, Callable

import numpy as np
import torch

from fashion.errors import InvalidInput
from fashion.manifest import InputSpec
from fashion.request.options import Options
from fashion.results import Envelope, Garment, ImageResult, Output, Picture

MAGIC = b"FSHNENV2"


def is_envelope(data: Any) -> bool:
    return isinstance(data, (bytes, bytearray)) and bytes(data[:len(MAGIC)]) == MAGIC


def _pack_outputs(outputs: dict[type[Output], Output], blob: Callable[[bytes], list[int]]) -> list[dict[str, Any]]:
    """[{"kind", "json": {...}, "arrays": {field: {blob, shape, dtype}}}] per output: its numpy fields as blobs."""
    packed = []
    for kind, output in outputs.items():
        entry: dict[str, Any] = {"kind": kind.__name__, "json": {}, "arrays": {}}
        for field in dataclasses.fields(output):
            value = getattr(output, field.name)
            if isinstance(value, np.ndarray):
                arr = np.ascontiguousarray(value)
                entry["arrays"][field.name] = {"blob": blob(arr.tobytes()), "shape": list(arr.shape),
                                               "dtype": arr.dtype.str}
            else:
                entry["json"][field.name] = value
        packed.append(entry)
    return packed


def _unpack_outputs(packed: list[dict[str, Any]],
                    blob: Callable[[list[int]], memoryview]) -> dict[type[Output], Output]:
    outputs: dict[type[Output], Output] = {}
    for entry in packed:
        kind = Output.kind(entry["kind"])
        arrays = {name: np.frombuffer(blob(a["blob"]), dtype=np.dtype(a["dtype"])).reshape(a["shape"]).copy()
                  for name, a in entry.get("arrays", {}).items()}
        outputs[kind] = kind(**entry.get("json", {}), **arrays)
    return outputs


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
        picture = it.picture
        h: dict[str, Any] = {"size": picture.size, "error": it.error, "outputs": _pack_outputs(it.outputs, blob)}
        if picture.upload is not None:
            h["image"] = blob(picture.upload)
        if it.garments is not None:
            h["garments"] = [g.to_wire() for g in it.garments]
        if picture.inputs:
            h["pixels"] = [{"spec": dataclasses.asdict(spec), "blob": blob(px.contiguous().numpy().tobytes()),
                            "shape": list(px.shape)} for spec, px in picture.inputs.items()]
        items.append(h)
    header = json.dumps({"shape": env.shape, "options": env.options.to_dict(), "models": env.models,
                         "error": env.error, "texts": env.texts, "outputs": _pack_outputs(env.outputs, blob),
                         "items": items}, separators=(",", ":")).encode()
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
        it = ImageResult(Picture(size=tuple(h["size"]) if h.get("size") else None), error=h.get("error"),
                         outputs=_unpack_outputs(h.get("outputs", []), blob))
        if "image" in h:
            it.picture.upload = bytes(blob(h["image"]))
        if "garments" in h:
            it.garments = [Garment.from_wire(g) for g in h["garments"]]
        for p in h.get("pixels", ()):
            arr = np.frombuffer(blob(p["blob"]), dtype=np.uint8).reshape(p["shape"]).copy()
            it.picture.inputs[InputSpec.from_dict(p["spec"])] = torch.from_numpy(arr)
        items.append(it)
    opts = header["options"]
    opts["include"] = tuple(opts["include"])
    opts["labels"] = tuple(opts.get("labels", ()))
    return Envelope(header["shape"], Options(**opts), items, header.get("models", []),
                    header.get("error"), header.get("texts"), _unpack_outputs(header.get("outputs", []), blob))

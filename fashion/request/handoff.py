"""What the workflow's segmenter node passes on for each image: the upload, or the pixels the next nodes' models
take (the whole image and the garment crops, resized for each model's input), whichever costs less.

Passing the upload costs its bytes on every hop and a decode on every later node; passing pixels costs their
bytes on every hop and nothing else (no decode, no resize downstream). Small uploads (catalogue product photos)
are cheaper to decode again, 0.5 MP street photos sit near the break-even, camera photos are far cheaper as
pixels. The figures are measured by `python -m bench.handoff` (decode) and in DESIGN.md (a raw byte between
TorchServe nodes).
The segmenter archive carries the next models' input specs (handoff.json, written by export.archive); without
it the upload is passed on, as before.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from fashion import models as registry
from fashion.manifest import InputSpec

HANDOFF_FILE = "handoff.json"
HOP_NS_PER_BYTE = 10.0  # ~10 ms per MB of raw bytes between TorchServe workflow nodes (DESIGN.md)
DECODE_NS_PER_PIXEL = 4.0  # decoding an upload again, per pixel (bench.handoff: JPEG photos on this CPU)
HOPS = len(registry.RUN_ORDER) - 1  # the workflow's chain: segmenter -> attributes -> embedder


@dataclasses.dataclass(frozen=True)
class Downstream:
    """The input specs of the models after the chain's first, each with whether it takes the garment crops."""
    inputs: tuple[tuple[InputSpec, bool], ...]

    @classmethod
    def of(cls, specs: dict[str, InputSpec]) -> "Downstream":
        """Models sharing a spec share its pixels; crops where a model taking them (the registry's `crops`) is."""
        merged: dict[InputSpec, bool] = {}
        for name, spec in specs.items():
            merged[spec] = merged.get(spec, False) or registry.spec(name).crops
        return cls(tuple(merged.items()))

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": [{"spec": dataclasses.asdict(s), "crops": c} for s, c in self.inputs]}

    def save(self, path: Path) -> Path:
        path.write_text(json.dumps(self.to_dict(), indent=1))
        return path

    @classmethod
    def load(cls, directory: str | Path) -> "Downstream | None":
        path = Path(directory) / HANDOFF_FILE
        if not path.is_file():
            return None
        return cls(tuple((InputSpec.from_dict(e["spec"]), bool(e["crops"]))
                         for e in json.loads(path.read_text())["inputs"]))

    def pixel_bytes(self, garments: int) -> int:
        """Bytes of the pixels passed on for an image with this many garments (uint8, 3 channels)."""
        return sum((1 + (garments if crops else 0)) * 3 * spec.size[0] * spec.size[1] for spec, crops in self.inputs)


def pixels_cheaper(upload_bytes: int, upload_pixels: int, pixel_bytes: int, hops: int = HOPS) -> bool:
    """Whether passing pixels costs less than passing the upload (and decoding it on each later node)."""
    upload = hops * (upload_bytes * HOP_NS_PER_BYTE + upload_pixels * DECODE_NS_PER_PIXEL)
    return hops * pixel_bytes * HOP_NS_PER_BYTE < upload

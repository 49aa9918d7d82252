"""A toy fourth model, copied to fashion/stages/pattern.py by tests/e2e/test_fourth_model.py: the whole image's pattern
(solid | striped | floral) from a tiny CNN with RANDOM weights, and who wears it: it reads another model's output
(the attribute model's garment metadata) by its type, as any stage does. It proves the registry, not a pattern
classifier."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from fashion.manifest import load_artifact
from fashion.stages.preprocess import normalize
from fashion.results import Metadata, Output
from fashion.stages.stage import add_model, chunks, input_pixels, live, planned

if TYPE_CHECKING:
    from fashion.request.options import Options
    from fashion.results import Envelope, ImageResult

SCHEMA: dict[str, Any] = {"sections": {"pattern": {
    "type": "object", "required": ["label", "score"],
    "properties": {"label": {"type": "string"}, "score": {"type": "number"},
                   "worn_by": {"description": "each garment's gender (the attribute model's garment metadata)",
                               "type": "array", "items": {"type": ["string", "null"]}}}}},
    "required": ["pattern"]}


@dataclasses.dataclass(frozen=True)
class Pattern(Output):
    label: str
    score: float
    worn_by: list[str | None] | None  # None: no garment metadata to read


class PatternStage:
    name: ClassVar[str] = "pattern"
    schema: ClassVar[dict[str, Any]] = SCHEMA
    reads: ClassVar[tuple[type, ...]] = (Metadata,)
    writes: ClassVar[tuple[type, ...]] = (Pattern,)

    def __init__(self, module: Any, manifest: Any, device: torch.device) -> None:
        self.module, self.manifest, self.device = module, manifest, device

    @classmethod
    def load(cls, directory: str | Path, device: torch.device) -> "PatternStage":
        return cls(*load_artifact(directory, cls.name, device), device)

    @torch.inference_mode()
    def run(self, envs: list[Envelope]) -> None:
        classes = self.manifest.labels["classes"]
        for chunk in chunks(live(envs, planned(self.name))):
            pixels = torch.stack([input_pixels(it, self.manifest.input)[0] for _, it in chunk])
            probs = self.module(normalize(pixels, self.manifest.input).to(self.device)).float().softmax(-1).cpu()
            for (_, it), p in zip(chunk, probs):
                score, idx = p.max(0)
                metadata = it.get(Metadata)
                worn_by = None if metadata is None or metadata.garments is None else [
                    (fields.get("gender") or {}).get("label") for fields in metadata.garments]
                it.put(Pattern(classes[int(idx)], round(float(score), 4), worn_by))
        add_model(envs, self.manifest.provenance())

    @staticmethod
    def respond(result: ImageResult, options: Options, response: dict[str, Any]) -> None:
        pattern = result.get(Pattern)
        if pattern is not None and options.plan.emits("pattern"):
            response["pattern"] = {"label": pattern.label, "score": pattern.score}
            if pattern.worn_by is not None:
                response["pattern"]["worn_by"] = pattern.worn_by

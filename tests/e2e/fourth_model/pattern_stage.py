"""A toy fourth model, copied to fashion/pattern.py by tests/e2e/test_fourth_model.py: the whole image's pattern
(solid | striped | floral) from a tiny CNN with RANDOM weights. It proves the registry, not a pattern classifier."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from fashion.manifest import load_artifact
from fashion.preprocess import normalize
from fashion.stage import add_model, chunks, input_pixels, live, planned

if TYPE_CHECKING:
    from fashion.options import Options
    from fashion.pipeline import Envelope, ImageResult

SCHEMA: dict[str, Any] = {"sections": {"pattern": {"$ref": "#/$defs/scored"}}, "required": ["pattern"]}


class PatternStage:
    name: ClassVar[str] = "pattern"
    schema: ClassVar[dict[str, Any]] = SCHEMA

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
                it.values["pattern"] = {"label": classes[int(idx)], "score": round(float(score), 4)}
        add_model(envs, self.manifest.provenance())

    @staticmethod
    def writes(result: ImageResult, options: Options, response: dict[str, Any]) -> None:
        if result.values.get("pattern") is not None and options.plan.emits("pattern"):
            response["pattern"] = result.values["pattern"]

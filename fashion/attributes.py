"""Product attributes from one multi-head TinyViT: preprocess -> predict -> postprocess; AttributesStage runs it
over envelopes and writes a response's `metadata` (fashion.stage)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from PIL import Image

from fashion.backends import Runner
from fashion.manifest import Manifest, load_artifact
from fashion.metadata import derive
from fashion.preprocess import model_pixels, normalize
from fashion.stage import ModelStage, add_model, chunks, input_pixels, live, planned

if TYPE_CHECKING:
    from fashion.options import Options
    from fashion.pipeline import Envelope, ImageResult


class AttributeClassifier:
    def __init__(self, module: Runner, manifest: Manifest, device: torch.device) -> None:
        self.module, self.manifest, self.device = module, manifest, device
        self.heads: dict[str, list[str]] = manifest.labels["heads"]
        self.mapping: dict[str, dict[str, str]] = manifest.labels.get("mapping", {})
        # heads trained by `python -m training` (a checkpoint); else random heads, replaced by zero-shot downstream
        self.trained = bool(manifest.settings.get("trained_heads", not manifest.random_weights))
        self.source = "classifier" if self.trained else "untrained classifier"

    def preprocess(self, images: list[Image.Image]) -> torch.Tensor:
        return self.preprocess_pixels([model_pixels(im, self.manifest.input) for im in images])

    def preprocess_pixels(self, pixels: list[torch.Tensor]) -> torch.Tensor:
        """fashion.preprocess.model_pixels per image (its first row, the whole image) -> the batch."""
        return normalize(torch.stack([p[0] for p in pixels]), self.manifest.input).to(self.device)

    @torch.inference_mode()
    def predict(self, batch: torch.Tensor) -> list[torch.Tensor]:
        """One logits tensor per head, in the manifest's head order."""
        return [t.float() for t in self.module(batch)]

    def postprocess(self, logits: list[torch.Tensor]) -> list[dict[str, Any]]:
        probs = [t.softmax(dim=-1).cpu() for t in logits]
        out = []
        for i in range(probs[0].shape[0]):
            fields = {}
            for (head, vocab), p in zip(self.heads.items(), probs):
                score, idx = p[i].max(dim=0)
                fields[head] = {"label": vocab[int(idx)], "score": round(float(score), 4)}
            out.append({**derive(fields, self.mapping), "source": self.source})
        return out


# Its part of the response contract (fashion.schema composes the whole): top-level sections, what it adds
# to each garment, and definitions those use.
SCHEMA: dict[str, Any] = {'sections': {'metadata': {'type': 'object',
                           'required': ['gender',
                                        'articleType',
                                        'baseColour',
                                        'season',
                                        'usage',
                                        'masterCategory',
                                        'subCategory',
                                        'productDisplayName',
                                        'source'],
                           'properties': {'gender': {'$ref': '#/$defs/scored'},
                                          'articleType': {'$ref': '#/$defs/scored'},
                                          'baseColour': {'$ref': '#/$defs/scored'},
                                          'season': {'$ref': '#/$defs/scored'},
                                          'usage': {'$ref': '#/$defs/scored'},
                                          'masterCategory': {'type': ['string', 'null']},
                                          'subCategory': {'type': ['string', 'null']},
                                          'productDisplayName': {'type': 'string'},
                                          'source': {'description': 'classifier: trained attribute heads; '
                                                                    'zero-shot: CLIP against the vocabularies '
                                                                    '(no trained heads in this deployment); '
                                                                    'untrained classifier: random heads and no '
                                                                    'text tower to fall back on',
                                                     'enum': ['classifier',
                                                              'zero-shot',
                                                              'untrained classifier']}}}},
 'required': ['metadata']}


class AttributesStage(ModelStage):
    """The registry's attribute model: each image's metadata for the requests whose plan classifies."""
    name: ClassVar[str] = "attributes"
    schema: ClassVar[dict[str, Any]] = SCHEMA

    model: AttributeClassifier

    @classmethod
    def load(cls, directory: str | Path, device: torch.device) -> "AttributesStage":
        return cls(AttributeClassifier(*load_artifact(directory, cls.name, device), device))

    def run(self, envs: list[Envelope]) -> None:
        attr = self.model
        for chunk in chunks(live(envs, planned(self.name))):
            logits = attr.predict(attr.preprocess_pixels([input_pixels(it, attr.manifest.input) for _, it in chunk]))
            for (_, it), fields in zip(chunk, attr.postprocess(logits)):
                it.values["metadata"] = fields
        add_model(envs, self.manifest.provenance())

    @staticmethod
    def writes(result: ImageResult, options: Options, response: dict[str, Any]) -> None:
        if result.values.get("metadata") is not None and options.plan.emits("metadata"):
            response["metadata"] = result.values["metadata"]

"""Product attributes from one multi-head classifier (a timm trunk): preprocess -> predict -> postprocess;
AttributesStage runs it over envelopes and writes a response's `metadata` (fashion.stages.stage)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from PIL import Image

from fashion.worn import worn_gender
from fashion.backends import Runner
from fashion.manifest import Manifest, load_artifact
from fashion.stages.preprocess import model_pixels, normalize
from fashion.results import Garment, Metadata, TrunkFeatures, WearerFace
from fashion.stages.stage import FORWARD_BATCH, ModelStage, add_model, chunks, input_pixels, live, planned
from fashion.nets.trunk import DIGEST
from fashion.worn.worn_families import group_families
from fashion.worn.product_shot import is_set, the_product
from fashion.worn.worn_metadata import SCENE, Calibration, garment_metadata, is_worn, photo_metadata

if TYPE_CHECKING:
    from fashion.request.options import Options
    from fashion.results import Envelope, ImageResult


class AttributeClassifier:
    def __init__(self, module: Runner, manifest: Manifest, device: torch.device) -> None:
        self.module, self.manifest, self.device = module, manifest, device
        self.heads: dict[str, list[str]] = manifest.labels["heads"]
        self.mapping: dict[str, dict[str, str]] = manifest.labels.get("mapping", {})
        # heads trained by `python -m training` (a checkpoint); else random heads, replaced by zero-shot downstream
        self.trained = bool(manifest.settings.get("trained_heads", not manifest.random_weights))
        self.source = "classifier" if self.trained else "untrained classifier"
        self.features = bool(manifest.settings.get("features", False))
        self.digest: str | None = manifest.settings.get(DIGEST)

    def preprocess(self, images: list[Image.Image]) -> torch.Tensor:
        return self.preprocess_pixels([model_pixels(im, self.manifest.input) for im in images])

    def preprocess_pixels(self, pixels: list[torch.Tensor]) -> torch.Tensor:
        """fashion.stages.preprocess.model_pixels per image (its first row, the whole image) -> the batch."""
        return normalize(torch.stack([p[0] for p in pixels]), self.manifest.input).to(self.device)

    @torch.inference_mode()
    def predict(self, batch: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """One logits tensor per head, in the manifest's head order, and the trunk's pooled features when the
        graph returns them (archives exported since the shared trunk, fashion.nets.trunk)."""
        out = [t.float() for t in self.module(batch)]
        if self.features:
            return out[:-1], out[-1]
        return out, None

    def probabilities(self, logits: list[torch.Tensor]) -> list[dict[str, np.ndarray]]:
        """Per input row, each head's softmax."""
        probs = [t.softmax(dim=-1).cpu().numpy() for t in logits]
        return [dict(zip(self.heads, (p[n] for p in probs))) for n in range(len(probs[0]))]

    def postprocess(self, logits: list[torch.Tensor]) -> list[dict[str, Any]]:
        """Each row's metadata as a whole photo without garments (fashion.worn.worn_metadata)."""
        return [photo_metadata(row, self.heads, self.mapping, self.source, None, [], Calibration.load())
                for row in self.probabilities(logits)]


# Its part of the response contract (fashion.schema composes the whole): top-level sections, what it adds
# to each garment, and definitions those use.
_FIELD_NOTE = ("a metadata field: its label and score, or label null with the reason (its calibrated confidence too "
               "low: fashion/worn/worn_calibration.json)")
_METADATA_PROPERTIES: dict[str, Any] = {
    **{h: {"$ref": "#/$defs/field"} for h in ("gender", "articleType", "baseColour", "season", "usage")},
    "masterCategory": {"type": ["string", "null"]},
    "subCategory": {"type": ["string", "null"]},
    "productDisplayName": {"type": "string"},
    "source": {"description": "classifier: trained attribute heads; zero-shot: CLIP against the vocabularies (no "
                              "trained heads in this deployment); untrained classifier: random heads and no text "
                              "tower to fall back on",
               "enum": ["classifier", "zero-shot", "untrained classifier"]},
}
_REQUIRED = ["gender", "articleType", "baseColour", "season", "usage", "masterCategory", "subCategory",
             "productDisplayName", "source"]
SCHEMA: dict[str, Any] = {
    "sections": {"metadata": {
        "description": "the photo's metadata. A product shot (scene product): the attribute heads on the photo. A "
                       "photo of a person (scene worn): the person's gender, and the main garment's articleType, "
                       "colour, season and usage (garment: its number in 'garments')",
        "type": "object", "required": _REQUIRED, "additionalProperties": False,
        "properties": {**_METADATA_PROPERTIES,
                       "scene": {"$ref": "#/$defs/scored",
                                 "description": "product: a catalogue product shot; worn: a person wearing clothes"},
                       "garment": {"type": ["integer", "null"], "minimum": 0}}}},
    "required": ["metadata"],
    "garment": {"metadata": {"description": "the garment's own metadata, from its masked crop (its articleType one "
                                            "its wearer's gender wears, its baseColour within its measured colour's "
                                            "family); on a product shot, where the garment is the product, the "
                                            "photo's",
                             "type": "object", "required": _REQUIRED, "additionalProperties": False,
                             "properties": _METADATA_PROPERTIES}},
    "garment_required": [],
    "defs": {"field": {"description": _FIELD_NOTE, "type": "object", "required": ["label", "score"],
                       "additionalProperties": False,
                       "properties": {"label": {"type": ["string", "null"]},
                                      "score": {"type": "number", "minimum": 0, "maximum": 1},
                                      "reason": {"type": "string"}}}},
}


class AttributesStage(ModelStage):
    """The registry's attribute model: each image's metadata, and each garment's from its masked crop, all
    inputs of a chunk in one batch (fashion.worn.worn_metadata decides what a photo of a person answers); the trunk
    features it computed are kept for the embedder (fashion.nets.trunk)."""
    name: ClassVar[str] = "attributes"
    schema: ClassVar[dict[str, Any]] = SCHEMA
    reads: ClassVar[tuple[type, ...]] = (Garment, WearerFace)
    writes: ClassVar[tuple[type, ...]] = (Metadata, TrunkFeatures, Garment)  # a product shot's: its product

    model: AttributeClassifier

    def __init__(self, model: AttributeClassifier, cal: Calibration | None = None) -> None:
        super().__init__(model)
        self.calibration = cal or Calibration.load()  # when a worn photo's fields are answered
        self.families = group_families(model.heads.get("articleType", []))
        self.outfit = worn_gender.load()  # the wearer's gender from what they wear (None: the photo head alone)

    @classmethod
    def load(cls, directory: str | Path, device: torch.device) -> "AttributesStage":
        return cls(AttributeClassifier(*load_artifact(directory, cls.name, device), device))

    def run(self, envs: list[Envelope]) -> None:
        attr = self.model
        for chunk in chunks(live(envs, planned(self.name))):
            pixels = [input_pixels(it, attr.manifest.input, crops=True) for _, it in chunk]
            batch = normalize(torch.cat(pixels), attr.manifest.input).to(attr.device)
            outs = [attr.predict(b) for b in torch.split(batch, FORWARD_BATCH)]
            rows = attr.probabilities([torch.cat([o[0][h] for o in outs]) for h in range(len(attr.heads))])
            features = torch.cat([o[1] for o in outs]).cpu().numpy() if attr.features else None
            start = 0
            for (_, it), p in zip(chunk, pixels):
                rows_kept = self._describe(it, rows[start:start + len(p)])
                if features is not None:
                    it.put(TrunkFeatures(features[start:start + len(p)][rows_kept], attr.digest))
                start += len(p)
        add_model(envs, self.manifest.provenance())

    def _describe(self, it: ImageResult, row: list[dict[str, np.ndarray]]) -> list[int]:
        """Each head's probabilities per row: row 0 is the whole image, then one row per garment. Returns the rows
        still in use: a product shot's garments are its product (fashion.worn.product_shot)."""
        attr, cal = self.model, self.calibration
        if attr.trained and it.garments and SCENE in row[0] and not is_worn(row[0], attr.heads):  # random heads: no
            return self._describe_product(it, row)
        groups = None if it.garments is None else [g.label for g in it.garments]
        face = it.get(WearerFace)  # the face's P(male) where the segmenter stage looked for one
        garments, wearer = None, worn_gender.wearer(self.outfit, cal, row[0], attr.heads, groups,
                                                   None if face is None else face.men_share)
        if it.garments is not None:
            garments = self._garments(it.garments, row, wearer)
        it.put(Metadata(photo_metadata(row[0], attr.heads, attr.mapping, attr.source, garments,
                                       [g.area for g in it.garments or ()], cal, row[1:], wearer), garments))
        return list(range(len(row)))

    def _describe_product(self, it: ImageResult, row: list[dict[str, np.ndarray]]) -> list[int]:
        """A product shot: the photo's heads answer; its product garment answers the same."""
        attr = self.model
        photo = photo_metadata(row[0], attr.heads, attr.mapping, attr.source, None, [], self.calibration)
        article = (photo.get("articleType") or {}).get("label")
        it.garments, speaks = the_product(it.garments, article)
        kept = [0, *(1 + n for n in speaks)]
        if is_set(article):
            garments = self._garments(it.garments, [row[n] for n in kept], None)
        else:
            garments = [{k: v for k, v in photo.items() if k != SCENE} for _ in it.garments]
        it.put(Metadata(photo, garments))
        return kept

    def _garments(self, found: list[Garment], row: list[dict[str, np.ndarray]],
                  wearer: float | None) -> list[dict[str, Any]]:
        """Each garment's own metadata from its row (row 0: its photo's)."""
        attr = self.model
        return [garment_metadata(r, row[0], attr.heads, attr.mapping, attr.source, self.calibration,
                                 self.families.get(g.label), wearer, (g.colour or {}).get("name"))
                for r, g in zip(row[1:], found)]

    @staticmethod
    def respond(result: ImageResult, options: Options, response: dict[str, Any]) -> None:
        metadata = result.get(Metadata)
        if metadata is None or not options.plan.emits("metadata"):
            return
        for garment, fields in zip(response.get("garments", ()), metadata.garments or ()):
            garment["metadata"] = fields
        response["metadata"] = metadata.photo

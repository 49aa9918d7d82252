"""CLIP embeddings of whole images, garment crops (one batch) and texts; all L2-normalised. EmbedderStage runs it
over envelopes (fashion.stages.stage), then the steps computed from embeddings (fashion.stages.embedding_steps:
article-text blending, zero-shot stand-in metadata, tags, garment by words)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from PIL import Image

from fashion.backends import Runner
from fashion.stages.embedding_steps import STEPS, Step, untrained
from fashion.errors import InvalidInput, RequestError
from fashion.request.limits import limits
from fashion.manifest import Manifest, load_artifact
from fashion.stages.preprocess import model_pixels, normalize
from fashion.response import vector_json
from fashion.results import (Embeddings, Garment, GarmentEmbeddings, Metadata, PromptMatch, Tags, TextEmbeddings,
                             TrunkFeatures)
from fashion.stages.stage import FORWARD_BATCH, ModelStage, add_model, chunks, input_pixels, live
from fashion.nets.trunk import DIGEST, Projection
from fashion.stages.zeroshot import USER_TEMPLATE, ZeroShot

if TYPE_CHECKING:
    from fashion.request.options import Options
    from fashion.results import Envelope, ImageResult

LABEL_CACHE = 128  # user vocabularies whose text embeddings are kept


class Embedder:
    def __init__(self, module: Runner, manifest: Manifest, device: torch.device,
                 text_module: torch.jit.ScriptModule | None = None, zeroshot: ZeroShot | None = None) -> None:
        self.module, self.manifest, self.device, self.text_module = module, manifest, device, text_module
        self.zeroshot = zeroshot
        self.projection: Projection | None = None  # the head after the trunk (fashion.nets.trunk), when exported
        self.digest: str | None = manifest.settings.get(DIGEST)
        self.dim = int(manifest.settings["embed_dim"])
        self.logit_scale = float(manifest.settings.get("logit_scale", 100.0))
        self._tokenizer = None
        self._label_vectors: dict[tuple[str, ...], np.ndarray] = {}

    @classmethod
    def load_text_tower(cls, directory: str | Path, manifest: Manifest,
                        device: torch.device) -> torch.jit.ScriptModule | None:
        name = manifest.settings.get("text_artifact")
        if not name or not (Path(directory) / name).is_file():
            return None
        return torch.jit.load(str(Path(directory) / name), map_location=device).eval()

    @classmethod
    def load(cls, directory: str | Path, device: torch.device) -> "Embedder":
        """The image tower, and the text tower and zero-shot tables when the archive has them."""
        module, manifest = load_artifact(directory, "embedder", device)
        emb = cls(module, manifest, device, cls.load_text_tower(directory, manifest, device))
        projection = manifest.settings.get("projection_artifact")
        if projection and emb.digest and (Path(directory) / projection).is_file():
            emb.projection = Projection.load(Path(directory) / projection)
        name = manifest.settings.get("zeroshot_artifact")
        if name and (Path(directory) / name).is_file():
            emb.zeroshot = ZeroShot.load(Path(directory) / name, manifest.labels.get("mapping", {}), emb.logit_scale)
        if emb.text_module is not None:
            emb.warm_text()
        return emb

    def warm_text(self) -> None:
        """Build the tokenizer (a packaged Hugging Face one imports transformers and reads its folder: seconds) and
        run the text tower twice (TorchScript optimises on its first calls) at load, not in a user's first text
        request: the workflow's quick embedder node must answer within its short timeout."""
        for _ in range(2):
            self.embed_texts(["a black leather jacket"])

    def preprocess(self, images: list[Image.Image],
                   garments: list[list[Garment]] | None = None) -> tuple[torch.Tensor, list[int]]:
        """Whole images and their garment crops in ONE batch; counts says how many crops each image has."""
        return self.preprocess_pixels([model_pixels(im, self.manifest.input, garments[i] if garments else None)
                                       for i, im in enumerate(images)])

    def preprocess_pixels(self, pixels: list[torch.Tensor]) -> tuple[torch.Tensor, list[int]]:
        """fashion.stages.preprocess.model_pixels per image (whole image first, then its crops) -> (batch, counts)."""
        return normalize(torch.cat(pixels), self.manifest.input).to(self.device), [len(p) - 1 for p in pixels]

    @torch.inference_mode()
    def predict(self, batch: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(self.module(batch).float(), dim=-1)

    def projects(self, item: ImageResult) -> bool:
        """Whether the image's trunk features (the attribute stage's, fashion.nets.trunk) are this tower's trunk's, for
        the whole image and every garment: then projecting them is the embedding, without a forward."""
        trunk = item.get(TrunkFeatures)
        return (self.projection is not None and trunk is not None and trunk.digest == self.digest
                and len(trunk.features) == 1 + len(item.garments or ()))

    def postprocess(self, embeddings: torch.Tensor, counts: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Split the batch back: (whole-image embedding, garment embeddings) per image."""
        arr, out, start = embeddings.cpu().numpy(), [], 0
        for n in counts:
            out.append((arr[start], arr[start + 1:start + 1 + n]))
            start += 1 + n
        return out

    def tokenizer(self):
        if self._tokenizer is None:
            from fashion.nets import embedder_model  # lazy: only text requests need open_clip

            self._tokenizer = embedder_model.tokenizer(self.manifest.settings["tokenizer"])
        return self._tokenizer

    @torch.inference_mode()
    def embed_texts(self, texts: list[str]) -> np.ndarray:
        if self.text_module is None:
            raise InvalidInput("this embedder archive has no text tower; export it with text enabled")
        most = limits().max_texts
        if not texts or len(texts) > most or not all(isinstance(t, str) and t.strip() for t in texts):
            raise InvalidInput(f"'text' must be a list of 1 to {most} non-empty strings (MAX_TEXTS)")
        tokens = self.tokenizer()(texts).to(self.device)
        return torch.nn.functional.normalize(self.text_module(tokens).float(), dim=-1).cpu().numpy()

    def label_vectors(self, labels: tuple[str, ...]) -> np.ndarray:
        """Text embeddings of a user vocabulary (USER_TEMPLATE), cached per vocabulary."""
        if self.text_module is None:
            raise InvalidInput("option 'labels' needs the CLIP text tower, and this embedder archive has none; "
                               "export it with text enabled")
        if labels not in self._label_vectors:
            if len(self._label_vectors) >= LABEL_CACHE:
                self._label_vectors.pop(next(iter(self._label_vectors)))
            self._label_vectors[labels] = self.embed_texts([USER_TEMPLATE.format(v) for v in labels])
        return self._label_vectors[labels]


# Its part of the response contract (fashion.schema composes the whole): top-level sections, what it adds
# to each garment, and definitions those use.
SCHEMA: dict[str, Any] = {'sections': {'embedding': {'$ref': '#/$defs/embedding'},
              'tags': {'$ref': '#/$defs/tags'},
              'prompt': {'description': "garment by words (option 'prompt'): the selected garment's number in "
                                        "'garments', or null when none clears the threshold (cosine "
                                        'similarity, calibrated; fashion/stages/garment_prompt.json)',
                         'type': 'object',
                         'required': ['text', 'selected', 'threshold'],
                         'additionalProperties': False,
                         'properties': {'text': {'type': 'string'},
                                        'selected': {'type': ['integer', 'null'], 'minimum': 0},
                                        'threshold': {'type': 'number'}}}},
 'required': ['embedding'],
 'garment': {'embedding': {'$ref': '#/$defs/embedding'},
             'tags': {'$ref': '#/$defs/tags'},
             'prompt_score': {'description': 'cosine similarity of this garment to the prompt (option '
                                             "'prompt')",
                              'type': 'number',
                              'minimum': -1,
                              'maximum': 1},
             'selected': {'description': 'the garment the prompt selects (at most one per image)',
                          'type': 'boolean'}},
 'garment_required': ['embedding'],
 'defs': {'embedding': {'type': 'array', 'minItems': 2, 'items': {'type': 'number'}},
          'tags': {'description': "scores of the request's own labels (option 'labels'), a softmax over them, "
                                  'best first',
                   'type': 'array',
                   'minItems': 1,
                   'items': {'$ref': '#/$defs/scored'}}}}


class EmbedderStage(ModelStage):
    """The registry's embedder: whole-image and garment embeddings, all crops of all images in one batch per
    chunk (or the attribute stage's trunk features projected, fashion.nets.trunk), then the steps computed from them
    (fashion.stages.embedding_steps); and {"text": [...]} requests' embeddings."""
    name: ClassVar[str] = "embedder"
    schema: ClassVar[dict[str, Any]] = SCHEMA
    reads: ClassVar[tuple[type, ...]] = tuple(dict.fromkeys(
        (Garment, TrunkFeatures, *(t for step in STEPS for t in step.reads if t is not Embeddings))))
    writes: ClassVar[tuple[type, ...]] = tuple(dict.fromkeys(
        (Embeddings, TextEmbeddings, *(t for step in STEPS for t in step.writes))))

    model: Embedder

    def __init__(self, model: Embedder) -> None:
        super().__init__(model)
        self.steps: list[Step] = [step(model) for step in STEPS]

    @classmethod
    def load(cls, directory: str | Path, device: torch.device) -> "EmbedderStage":
        return cls(Embedder.load(directory, device))

    def wanted(self, env: Envelope) -> bool:
        """The plan runs it, or metadata is asked for and the attribute heads turned out untrained (zero-shot)."""
        plan = env.options.plan
        return plan.runs(self.name) or (plan.emits("metadata") and self.model.zeroshot is not None
                                        and any(untrained(it.get(Metadata)) for it in env.items))

    def run(self, envs: list[Envelope]) -> None:
        emb = self.model
        forward = []
        for env, it in live(envs, self.wanted):
            if emb.projects(it):
                vectors = emb.projection(it.get(TrunkFeatures).features)
                self._derive(env, it, vectors[0], vectors[1:])
            else:
                forward.append((env, it))
        for chunk in chunks(forward):
            batch, counts = emb.preprocess_pixels([input_pixels(it, emb.manifest.input, crops=True) for _, it in chunk])
            vectors = torch.cat([emb.predict(b) for b in torch.split(batch, FORWARD_BATCH)])
            for (env, it), (whole, parts) in zip(chunk, emb.postprocess(vectors, counts)):
                self._derive(env, it, whole, parts)
        for env in envs:
            if env.texts is not None and env.error is None:
                self._texts(env)
        add_model(envs, self.manifest.provenance())

    def _derive(self, env: Envelope, it: ImageResult, whole: np.ndarray, parts: np.ndarray) -> None:
        """The image's embeddings, then each step that the request wants."""
        it.put(Embeddings(whole, parts if it.garments is not None else None))
        try:
            for step in self.steps:
                if step.wanted(env, it):
                    step(env, it)
        except RequestError as exc:
            it.error = exc.to_dict()

    def _texts(self, env: Envelope) -> None:
        try:
            env.put(TextEmbeddings(self.model.embed_texts(env.texts), self.manifest.provenance()))
        except RequestError as exc:
            env.error = exc.to_dict()

    @staticmethod
    def respond(result: ImageResult, options: Options, response: dict[str, Any]) -> None:
        embeddings, plan = result.get(Embeddings), options.plan
        garment_vectors, tags, prompt = result.get(GarmentEmbeddings), result.get(Tags), result.get(PromptMatch)
        for n, garment in enumerate(response.get("garments", ())):
            if garment_vectors is not None:
                garment["embedding"] = vector_json(garment_vectors.vectors[n])
            if tags is not None:
                garment["tags"] = tags.garments[n]
            if prompt is not None:
                garment["prompt_score"], garment["selected"] = prompt.scores[n], n == prompt.selected
        if embeddings is not None and plan.emits("embedding"):
            response["embedding"] = vector_json(embeddings.image)
        if tags is not None and plan.emits("tags"):
            response["tags"] = tags.image
        if prompt is not None and plan.emits("prompt"):
            response["prompt"] = {"text": prompt.text, "selected": prompt.selected, "threshold": prompt.threshold}

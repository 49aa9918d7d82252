"""What is computed from an image's embeddings, one step each, after the embedder's forward (fashion.stages.embed):

- ArticleBlend: each garment's served embedding, its crop's plus its articleType's words (the attribute model's);
- ZeroShotStandIn: metadata from CLIP against the vocabularies where the attribute heads are untrained;
- Tagging: scores of the request's own labels (option 'labels');
- PromptSelection: garment by words (option 'prompt').

Each step declares the outputs it reads and writes (fashion.results), like a stage; the embedder stage runs them
in this order and declares their union (fashion.models checks the reads).
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, ClassVar, Protocol

import numpy as np

from fashion.garments import garment_groups
from fashion.stages import garment_prompt, zeroshot
from fashion.results import Embeddings, Garment, GarmentEmbeddings, Metadata, PromptMatch, Tags

if TYPE_CHECKING:
    from fashion.results import Envelope, ImageResult
    from fashion.stages.zeroshot import ZeroShot


class Embedder(Protocol):
    """What the steps use of the embedder (fashion.stages.embed.Embedder): its text side and zero-shot tables."""
    zeroshot: ZeroShot | None
    dim: int
    logit_scale: float

    def label_vectors(self, labels: tuple[str, ...]) -> np.ndarray: ...

# A garment's served embedding: crop + this x its articleType's text embedding. On the worn split's calib photos
# (334 matched garments) worn garment -> products P@10 0.249 (0), 0.344 (0.5), 0.408 (1), 0.443 (1.5); 1 keeps
# the crop's look and the articleType's kind at equal weight (reports/worn.md).
ARTICLE_TEXT_WEIGHT = 1.0


class Step(Protocol):
    reads: ClassVar[tuple[type, ...]]
    writes: ClassVar[tuple[type, ...]]

    def wanted(self, env: Envelope, it: ImageResult) -> bool: ...

    def __call__(self, env: Envelope, it: ImageResult) -> None: ...


def untrained(metadata: Metadata | None) -> bool:
    """Metadata from random attribute heads (zero-shot replaces it). None: no attribute stage ran (the embedder
    alone), and the embedder alone answers embeddings only."""
    return metadata is not None and not metadata.trained


def crop_vectors(it: ImageResult, dim: int) -> np.ndarray:
    """The garments' crop embeddings (tags and the prompt compare crops with words); none without garments."""
    emb = it.get(Embeddings)
    return emb.crops if emb is not None and emb.crops is not None else np.zeros((0, dim), np.float32)


class ArticleBlend:
    """Each garment's served embedding: its crop's, plus ARTICLE_TEXT_WEIGHT times the text embedding of its own
    articleType when that is known, renormalised; the crop alone otherwise (no attribute model, a null
    articleType, no zero-shot table)."""
    reads: ClassVar[tuple[type, ...]] = (Embeddings, Metadata)
    writes: ClassVar[tuple[type, ...]] = (GarmentEmbeddings,)

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    @functools.cached_property
    def article_vectors(self) -> dict[str, np.ndarray]:
        """Each articleType's unit text embedding (the zero-shot table's, "a photo of Skirts."); none without it."""
        tables = self.embedder.zeroshot.tables if self.embedder.zeroshot is not None else {}
        table = tables.get("articleType")
        if table is None:
            return {}
        vectors = table["embeddings"] / np.maximum(np.linalg.norm(table["embeddings"], axis=1, keepdims=True), 1e-12)
        return dict(zip(table["labels"], vectors))

    def wanted(self, env: Envelope, it: ImageResult) -> bool:
        return it.garments is not None

    def __call__(self, env: Envelope, it: ImageResult) -> None:
        parts = it.get(Embeddings).crops
        metadata = it.get(Metadata)
        fields_per_garment = metadata.garments if metadata is not None else None
        if not self.article_vectors or not fields_per_garment or not len(parts):
            it.put(GarmentEmbeddings(parts))
            return
        out = parts.copy()
        for n, fields in enumerate(fields_per_garment[:len(parts)]):
            text = self.article_vectors.get(((fields or {}).get("articleType") or {}).get("label"))
            if text is not None:
                out[n] = parts[n] + ARTICLE_TEXT_WEIGHT * text
                out[n] /= max(float(np.linalg.norm(out[n])), 1e-12)
        it.put(GarmentEmbeddings(out))


class ZeroShotStandIn:
    """The photo's metadata from CLIP against the vocabularies where the attribute heads are untrained (and the
    archive has the zero-shot tables); the garments' keep theirs."""
    reads: ClassVar[tuple[type, ...]] = (Embeddings, Metadata)
    writes: ClassVar[tuple[type, ...]] = (Metadata,)

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def wanted(self, env: Envelope, it: ImageResult) -> bool:
        return (self.embedder.zeroshot is not None and env.options.plan.emits("metadata")
                and untrained(it.get(Metadata)))

    def __call__(self, env: Envelope, it: ImageResult) -> None:
        photo = self.embedder.zeroshot.metadata(it.get(Embeddings).image[None])[0]
        it.put(Metadata(photo, it.get(Metadata).garments))


class Tagging:
    """Scores of the request's own labels for the whole image and each garment's crop."""
    reads: ClassVar[tuple[type, ...]] = (Embeddings,)
    writes: ClassVar[tuple[type, ...]] = (Tags,)

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def wanted(self, env: Envelope, it: ImageResult) -> bool:
        return env.options.plan.emits("tags")

    def __call__(self, env: Envelope, it: ImageResult) -> None:
        emb, labels = self.embedder, env.options.labels
        text = emb.label_vectors(labels)
        s = zeroshot.scores(np.concatenate([it.get(Embeddings).image[None], crop_vectors(it, emb.dim)]), text,
                            emb.logit_scale)
        it.put(Tags(zeroshot.ranked(s[0], list(labels)), [zeroshot.ranked(row, list(labels)) for row in s[1:]]))


class PromptSelection:
    """Garment by words: each garment crop's similarity to the prompt, the best one selected past the calibrated
    threshold (fashion.stages.garment_prompt)."""
    reads: ClassVar[tuple[type, ...]] = (Embeddings, Garment)
    writes: ClassVar[tuple[type, ...]] = (PromptMatch,)

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def wanted(self, env: Envelope, it: ImageResult) -> bool:
        return env.options.plan.emits("prompt") and it.garments is not None

    def __call__(self, env: Envelope, it: ImageResult) -> None:
        emb = self.embedder
        text = emb.label_vectors((env.options.prompt,))[0]
        words = garment_groups.load().word_of
        labels = (np.stack([emb.label_vectors((words(g.label),))[0] for g in it.garments]) if it.garments
                  else np.zeros((0, emb.dim), np.float32))
        scores, selected = garment_prompt.rank(text, crop_vectors(it, emb.dim), labels)
        it.put(PromptMatch(env.options.prompt, scores, selected, garment_prompt.threshold()))


STEPS: tuple[type, ...] = (ArticleBlend, ZeroShotStandIn, Tagging, PromptSelection)  # in run order


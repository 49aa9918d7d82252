"""The pipeline's stages over envelopes, shared by the workflow nodes and the in-process ensemble.

decode (request + images, validated; the request's plan) -> segment -> classify (attributes) -> embed (whole
image + garment crops in one batch) -> encode (the response). Each model stage runs preprocess -> predict ->
postprocess, batching every image of every request it is given into one forward pass; which requests a stage
serves is the request's plan (fashion.plan), decided once at decode.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from PIL import Image

from fashion import garment_groups, garment_prompt, models, zeroshot
from fashion.attributes import AttributeClassifier
from fashion.codec import Request, decode_request, encode_response
from fashion.colour import dominant_colours
from fashion.decode import decode_image
from fashion.embed import Embedder
from fashion.envelope import Envelope, ImageResult
from fashion.errors import RequestError, error_dict
from fashion.fetch import FetchPolicy, fetch_images, url_policy
from fashion.handoff import Downstream, pixels_cheaper
from fashion.manifest import InputSpec, load_artifact, select_device
from fashion.options import Options
from fashion.preprocess import model_pixels
from fashion.response import build_response
from fashion.segment import Segmenter

FORWARD_CHUNK = 16  # most images in one forward pass
MODEL_ORDER = models.RESPONSE_ORDER  # the order of a response's `models`


def decode(item: dict[str, Any], policy: FetchPolicy | None = None) -> Envelope:
    """A TorchServe request item -> an envelope of decoded, validated images (errors in place). Never raises.
    Image URLs are fetched here (concurrently, fashion.fetch's checks and limits) when the policy allows."""
    try:
        request: Request = decode_request(item)
    except Exception as exc:  # RequestError: its 4xx; anything else: a 500 for this request only
        return Envelope("single", Options(), [], error=error_dict(exc))
    images = fetch_images(request.images, policy or url_policy())
    items = []
    for image in images:
        if isinstance(image, RequestError):
            items.append(ImageResult(error=image.to_dict()))
            continue
        try:
            pil = decode_image(image)
        except Exception as exc:
            items.append(ImageResult(error=error_dict(exc)))
            continue
        items.append(ImageResult(image=image, size=pil.size, pil=pil))
    return Envelope(request.shape, request.options, items, texts=request.texts)


def _live(envs: list[Envelope], runs: Callable[[Envelope], bool]) -> list[tuple[Envelope, ImageResult]]:
    """The images of the requests a stage serves (`runs`), less those already refused."""
    return [(env, it) for env in envs if env.error is None and runs(env)
            for it in env.items if it.error is None and (it.image is not None or it.pixels)]


def _pixels(item: ImageResult) -> Image.Image:
    if item.pil is None:
        if item.image is None:
            raise RuntimeError("the segmenter node passed on pixels for other input specs than this model's: the "
                               "workflow's archives come from different exports; rebuild them together "
                               "(`make archives`)")
        item.pil = decode_image(item.image)
    return item.pil


def _rgb(item: ImageResult) -> np.ndarray:
    """The decoded image as an RGB uint8 array, made once (Pillow keeps RGB as 4 bytes a pixel: each conversion
    of an 8 MP photo costs ~30 ms)."""
    if item.rgb is None:
        item.rgb = np.asarray(_pixels(item))
    return item.rgb


def input_pixels(item: ImageResult, spec: InputSpec, crops: bool = False) -> torch.Tensor:
    """The image's input pixels for one spec (with its garments' crops when asked), made once per image and spec:
    the attribute model and the embedder share the whole image's when their specs agree."""
    have = item.pixels.get(spec)
    wanted = 1 + (len(item.garments or []) if crops else 0)
    if have is None or len(have) < wanted:
        have = model_pixels(_pixels(item), spec, item.garments if crops else None, whole=have)
        item.pixels[spec] = have
    return have[:wanted]


def _chunks(seq: list, n: int = FORWARD_CHUNK) -> Iterator[list]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def _add_model(envs: list[Envelope], provenance: dict[str, Any]) -> None:
    for env in envs:
        if provenance not in env.models:
            env.models.append(provenance)


def hand_off(envs: list[Envelope], downstream: Downstream) -> None:
    """The workflow's segmenter node, after segmenting: for each image where that costs less (fashion.handoff),
    the next models' input pixels replace the upload in what is passed on."""
    for _, it in _live(envs, lambda e: True):
        if it.image is None or it.size is None:
            continue
        pixel_bytes = downstream.pixel_bytes(len(it.garments or []))
        if pixels_cheaper(len(it.image), it.size[0] * it.size[1], pixel_bytes):
            for spec, crops in downstream.inputs:
                input_pixels(it, spec, crops)
            it.image, it.pil, it.rgb = None, None, None


def segment(seg: Segmenter, envs: list[Envelope]) -> None:
    """Set each image's garments (with their colour) for the requests whose plan segments."""
    for chunk in _chunks(_live(envs, lambda e: e.options.plan.segment)):
        images = [_rgb(it) for _, it in chunk]
        batch, frames = seg.preprocess(images)
        preds, protos = seg.predict(batch)
        for (env, it), p, proto, frame, pixels in zip(chunk, preds, protos, frames, images):
            it.garments = seg.postprocess(p[None], proto[None], [frame], [it.size],
                                          env.options.min_score, env.options.max_garments)[0]
            if env.options.groups == "coarse":
                try:
                    it.garments = seg.merge_coarse(it.garments)
                except RequestError as exc:
                    it.error, it.garments = exc.to_dict(), None
                    continue
            if it.garments:
                windows = [(pixels[y1:y2, x1:x2], inside)
                           for (x1, y1, x2, y2), inside in (g.local for g in it.garments)]
                for g, colour in zip(it.garments, dominant_colours(windows, torch.get_num_threads())):
                    g.colour = colour
    _add_model(envs, seg.manifest.provenance())


def embed(emb: Embedder, envs: list[Envelope]) -> None:
    """Whole-image and garment embeddings, all crops of all images in one batch per chunk; then what is
    computed from them: zero-shot metadata (when the attribute heads are untrained) and user-label tags."""
    live = _live(envs, lambda e: _needs_embedding(emb, e))
    for chunk in _chunks(live):
        batch, counts = emb.preprocess_pixels([input_pixels(it, emb.manifest.input, crops=True) for _, it in chunk])
        vectors = torch.cat([emb.predict(b) for b in torch.split(batch, 4 * FORWARD_CHUNK)])
        for (env, it), (whole, parts) in zip(chunk, emb.postprocess(vectors, counts)):
            it.embedding = whole
            it.garment_embeddings = parts if it.garments is not None else None
            plan = env.options.plan
            if emb.zeroshot is not None and plan.zero_shot and _untrained(it.metadata):
                it.metadata = emb.zeroshot.metadata(whole[None])[0]
            if plan.emits("tags"):
                _tag(emb, env, it)
            if plan.emits("prompt") and it.garments is not None:
                _select(emb, env, it)
    _add_model(envs, emb.manifest.provenance())


def _needs_embedding(emb: Embedder, env: Envelope) -> bool:
    """The plan's embed, or its zero-shot where the attribute heads turned out untrained."""
    plan = env.options.plan
    return plan.embed or (plan.zero_shot and emb.zeroshot is not None
                          and any(_untrained(it.metadata) for it in env.items))


def _untrained(metadata: dict[str, Any] | None) -> bool:
    """Metadata from random attribute heads (replaced by zero-shot). None: no attribute stage ran (the embedder
    alone), and the embedder alone answers embeddings only."""
    return metadata is not None and metadata.get("source") != "classifier"


def _tag(emb: Embedder, env: Envelope, it: ImageResult) -> None:
    """Scores of the request's own labels for the whole image and each garment."""
    try:
        text = emb.label_vectors(env.options.labels)
    except RequestError as exc:
        it.error = exc.to_dict()
        return
    parts = it.garment_embeddings if it.garment_embeddings is not None else np.zeros((0, emb.dim), np.float32)
    s = zeroshot.scores(np.concatenate([it.embedding[None], parts]), text, emb.logit_scale)
    it.tags = zeroshot.ranked(s[0], list(env.options.labels))
    it.garment_tags = [zeroshot.ranked(row, list(env.options.labels)) for row in s[1:]]


def _select(emb: Embedder, env: Envelope, it: ImageResult) -> None:
    """Garment by words: each garment's similarity to the prompt, the best one selected past the threshold."""
    try:
        text = emb.label_vectors((env.options.prompt,))[0]
        words = garment_groups.load().word_of
        garments = it.garments or []
        labels = (np.stack([emb.label_vectors((words(g.label),))[0] for g in garments]) if garments
                  else np.zeros((0, emb.dim), np.float32))
    except RequestError as exc:
        it.error = exc.to_dict()
        return
    parts = it.garment_embeddings if it.garment_embeddings is not None else np.zeros((0, emb.dim), np.float32)
    scores, selected = garment_prompt.rank(text, parts, labels)
    it.prompt = {"text": env.options.prompt, "scores": scores, "selected": selected,
                 "threshold": garment_prompt.threshold()}


def classify(attr: AttributeClassifier, envs: list[Envelope]) -> None:
    live = _live(envs, lambda e: e.options.plan.classify)
    for chunk in _chunks(live):
        logits = attr.predict(attr.preprocess_pixels([input_pixels(it, attr.manifest.input) for _, it in chunk]))
        for (_, it), fields in zip(chunk, attr.postprocess(logits)):
            it.metadata = fields
    _add_model(envs, attr.manifest.provenance())


def encode(env: Envelope) -> tuple[Any, int]:
    """An envelope -> (JSON payload, HTTP status) in the request's own shape."""
    if env.error is not None:
        return env.error, env.error["error"]["code"]
    env.models.sort(key=lambda m: MODEL_ORDER.index(m["name"]) if m.get("name") in MODEL_ORDER else len(MODEL_ORDER))
    results = []
    for it in env.items:
        if it.error is not None:
            results.append({"error": it.error["error"]})
            continue
        try:
            results.append(build_response(it, env.options, env.models))
        except Exception as exc:  # one image's encoding failure must not fail its neighbours
            results.append(error_dict(exc))
    return encode_response(env.shape, results)


@dataclasses.dataclass
class Pipeline:
    """All three models in one process: the ensemble archive and the in-process reference."""
    segmenter: Segmenter
    embedder: Embedder
    attributes: AttributeClassifier

    @classmethod
    def load(cls, directory: str | Path, device: torch.device | None = None) -> "Pipeline":
        device = device or select_device()
        seg = Segmenter(*load_artifact(directory, "segmenter", device), device)
        emb = Embedder.load(directory, device)
        attr = AttributeClassifier(*load_artifact(directory, "attributes", device), device)
        return cls(seg, emb, attr)

    def stages(self, envs: list[Envelope]) -> None:
        segment(self.segmenter, envs)
        classify(self.attributes, envs)
        embed(self.embedder, envs)

    def run(self, envs: list[Envelope]) -> list[tuple[Any, int]]:
        self.stages(envs)
        return [encode(env) for env in envs]

    def __call__(self, items: list[dict[str, Any]]) -> list[tuple[Any, int]]:
        return self.run([decode(item) for item in items])

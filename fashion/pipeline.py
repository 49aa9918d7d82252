"""The pipeline over envelopes, shared by the workflow nodes and the in-process ensemble.

decode (request + images, validated; the request's plan) -> each model's stage in the registry's run order
(fashion.models.RUN_ORDER: segmenter -> attributes -> embedder) -> encode (fashion.response). Each stage runs
preprocess -> predict -> postprocess over every image of every request it is given (fashion.stages.stage); which
requests a stage serves is the request's plan (fashion.request.plan), decided once at decode.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import torch

from fashion import models as registry
from fashion.request.codec import Request, parse_request
from fashion.request.decode import decode_image
from fashion.errors import RequestError, error_dict
from fashion.request.fetch import FetchPolicy, fetch_images, url_policy
from fashion.request.handoff import Downstream, pixels_cheaper
from fashion.manifest import select_device
from fashion.request.options import Options
from fashion.response import encode
from fashion.results import Envelope, ImageResult, Picture
from fashion.stages.stage import Stage, input_pixels, live
from fashion.threads import quiet_pools, wait_policy_applies

log = logging.getLogger(__name__)


def decode(item: dict[str, Any], policy: FetchPolicy | None = None) -> Envelope:
    """A TorchServe request item -> an envelope of decoded, validated images (errors in place). Never raises.
    Image URLs are fetched here (concurrently, fashion.request.fetch's checks and limits) when the policy allows."""
    try:
        request: Request = parse_request(item)
    except Exception as exc:  # RequestError: its 4xx; anything else: a 500 for this request only
        return Envelope("single", Options(), [], error=error_dict(exc))
    items = []
    for image in fetch_images(request.images, policy or url_policy()):
        if isinstance(image, RequestError):
            items.append(ImageResult(error=image.to_dict()))
            continue
        try:
            pil = decode_image(image)
        except Exception as exc:
            items.append(ImageResult(error=error_dict(exc)))
            continue
        items.append(ImageResult(Picture(upload=image, size=pil.size, decoded=pil)))
    return Envelope(request.shape, request.options, items, texts=request.texts)


def hand_off(envs: list[Envelope], downstream: Downstream) -> None:
    """The workflow's first node, after its stage: for each image where that costs less (fashion.request.handoff), the
    next models' input pixels replace the upload in what is passed on."""
    for _, it in live(envs, lambda e: True):
        picture = it.picture
        if picture.upload is None or picture.size is None:
            continue
        pixel_bytes = downstream.pixel_bytes(len(it.garments or []))
        if pixels_cheaper(len(picture.upload), picture.size[0] * picture.size[1], pixel_bytes):
            for spec, crops in downstream.inputs:
                input_pixels(it, spec, crops)
            picture.keep_inputs_only()


@dataclasses.dataclass
class Pipeline:
    """Every registry model in one process, in run order: the ensemble archive and the in-process reference."""
    by_name: dict[str, Stage]

    @classmethod
    def load(cls, directory: str | Path, device: torch.device | None = None) -> "Pipeline":
        device = device or select_device()
        quiet_pools()  # idle BLAS threads would spin on the models' cores, OpenCV's oversubscribe (fashion.threads)
        if not wait_policy_applies():
            log.warning("torch was imported before fashion with OMP_WAIT_POLICY unset: idle OpenMP threads spin on "
                        "the cores the pipeline needs (about 1.2x slower on 2 cores); import fashion first or set "
                        "OMP_WAIT_POLICY=PASSIVE")
        stages = registry.stage_classes()  # their contracts checked before any model loads
        return cls({name: stage.load(directory, device) for name, stage in zip(registry.RUN_ORDER, stages)})

    def __getitem__(self, name: str) -> Stage:
        return self.by_name[name]

    def model(self, name: str) -> Any:
        """The model a stage runs (its preprocess, predict, postprocess)."""
        return self.by_name[name].model

    def run(self, envs: list[Envelope]) -> None:
        for stage in self.by_name.values():
            stage.run(envs)

    def __call__(self, items: list[dict[str, Any]]) -> list[tuple[Any, int]]:
        """TorchServe request items -> (JSON payload, HTTP status) per request."""
        envs = [decode(item) for item in items]
        self.run(envs)
        return [encode(env) for env in envs]

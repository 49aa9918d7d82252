"""The stage protocol every model's module follows, and what stages share.

A stage is one model over envelopes (fashion.results): `load(directory, device)` builds it from an export folder
or archive, `run(envs)` runs preprocess -> predict -> postprocess over every image of every request it is given
(batched, FORWARD_CHUNK images a forward pass) and puts its typed outputs on each image, and
`respond(result, options, response)` puts its part of one image's response together from those outputs (without
the model: the workflow's last node writes every model's part). Each stage declares the outputs it `reads` and
`writes` (fashion.results.Output types, and Garment for the segmenter's garments); the registry (fashion.models)
lists the stages and checks that every read is written by a model the reader needs.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator, Protocol

import numpy as np
import torch
from PIL import Image

from fashion.request.decode import decode_image
from fashion.manifest import InputSpec, Manifest
from fashion.stages.preprocess import model_pixels

if TYPE_CHECKING:
    from fashion.request.options import Options
    from fashion.results import Envelope, ImageResult

FORWARD_CHUNK = 16  # most images in one forward pass
FORWARD_BATCH = 4 * FORWARD_CHUNK  # most inputs (images and their garment crops) one exported graph takes at once


class Stage(Protocol):
    name: ClassVar[str]  # its registry name
    schema: ClassVar[dict[str, Any]]  # its part of the response contract (fashion.schema)
    reads: ClassVar[tuple[type, ...]]  # the outputs of earlier stages it reads (fashion.results)
    writes: ClassVar[tuple[type, ...]]  # the outputs it puts on an image or a request
    manifest: Manifest

    @classmethod
    def load(cls, directory: str | Path, device: torch.device) -> "Stage": ...

    def run(self, envs: list[Envelope]) -> None: ...

    @staticmethod
    def respond(result: ImageResult, options: Options, response: dict[str, Any]) -> None: ...


class ModelStage:
    """What the stages of the shipped models share: the model they run (its preprocess, predict, postprocess)
    and its manifest."""
    name: ClassVar[str]
    schema: ClassVar[dict[str, Any]]  # its part of the response contract (fashion.schema)
    reads: ClassVar[tuple[type, ...]] = ()
    writes: ClassVar[tuple[type, ...]] = ()

    def __init__(self, model: Any) -> None:
        self.model, self.manifest = model, model.manifest


def live(envs: list[Envelope], runs: Callable[[Envelope], bool]) -> list[tuple[Envelope, ImageResult]]:
    """The images of the requests a stage serves (`runs`), less those already refused."""
    return [(env, it) for env in envs if env.error is None and runs(env)
            for it in env.items if it.error is None and it.picture.usable]


def planned(name: str) -> Callable[[Envelope], bool]:
    """The requests whose plan runs model `name`."""
    return lambda env: env.options.plan.runs(name)


def chunks(seq: list, n: int = FORWARD_CHUNK) -> Iterator[list]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def add_model(envs: list[Envelope], provenance: dict[str, Any]) -> None:
    """The model's provenance in every request's `models` (once)."""
    for env in envs:
        if provenance not in env.models:
            env.models.append(provenance)


def decoded(item: ImageResult) -> Image.Image:
    """The decoded image, made once."""
    picture = item.picture
    if picture.decoded is None:
        if picture.upload is None:
            raise RuntimeError("an earlier workflow node passed on pixels for other input specs than this model's: "
                               "the workflow's archives come from different exports; rebuild them together "
                               "(`make archives`)")
        picture.decoded = decode_image(picture.upload)
    return picture.decoded


def rgb(item: ImageResult) -> np.ndarray:
    """The decoded image as an RGB uint8 array, made once (Pillow keeps RGB as 4 bytes a pixel: each conversion
    of an 8 MP photo costs ~30 ms)."""
    if item.picture.rgb is None:
        item.picture.rgb = np.asarray(decoded(item))
    return item.picture.rgb


def input_pixels(item: ImageResult, spec: InputSpec, crops: bool = False) -> torch.Tensor:
    """The image's input pixels for one spec (with its garments' crops when asked), made once per image and spec:
    models share the whole image's when their specs agree."""
    have = item.picture.inputs.get(spec)
    wanted = 1 + (len(item.garments or []) if crops else 0)
    if have is None or len(have) < wanted:
        have = model_pixels(decoded(item), spec, item.garments if crops else None, whole=have)
        item.picture.inputs[spec] = have
    return have[:wanted]

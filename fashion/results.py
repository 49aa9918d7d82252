"""What a request is on its way through the pipeline: one module for the types every stage shares.

An `Envelope` is one request (its options, reply shape and images); an `ImageResult` is one image's state, its
`Picture` the image itself, held once from decode to response. The
segmenter's `Garment`s are what per-garment results refer to. Everything else a stage computes for later stages
or for the response is a typed `Output` (a frozen dataclass) kept by its type: a stage declares the outputs it
reads and writes (fashion.stages.stage.Stage), the registry checks that every read is written by a model it needs
(fashion.models.check_contracts), and the envelope between workflow nodes carries these outputs, nothing else
(fashion.envelope).
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from PIL import Image

from fashion.manifest import InputSpec
from fashion.garments.masks import Window, decode_rle, encode_rle, encode_window_rle, rle_area
from fashion.request.options import Options


def pixel_box(box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    """A float box widened to whole pixels: (x1, y1, x2, y2) for slicing."""
    return int(np.floor(box[0])), int(np.floor(box[1])), int(np.ceil(box[2])), int(np.ceil(box[3]))




@dataclasses.dataclass
class Garment:
    """One garment instance in original-image pixel coordinates. Its mask is held in whichever form it was made:
    inside its box only (`_local`, as the segmenter computes it), at the image's full size, or as RLE; each of
    the others is derived on first use (the full-size array only when something asks for it)."""
    label: str
    class_id: int
    score: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    _mask: np.ndarray | None = None  # bool, (height, width) of the original image
    _rle: dict[str, Any] | None = None
    colour: dict[str, Any] | None = None  # dominant colour inside the mask (fashion.garments.colour)
    _local: tuple[Window, np.ndarray] | None = None  # (window, bool mask of the window); zero outside it
    _size: tuple[int, int] | None = None  # (height, width) of the image, with _local

    @property
    def mask(self) -> np.ndarray:
        if self._mask is None:
            if self._local is not None:
                (x1, y1, x2, y2), inside = self._local
                self._mask = np.zeros(self._size, dtype=bool)
                self._mask[y1:y2, x1:x2] = inside
            else:
                self._mask = decode_rle(self._rle)
        return self._mask

    @property
    def local(self) -> tuple[Window, np.ndarray]:
        """(window, the mask inside it): the garment's pixel box clamped to the image, and its mask there."""
        if self._local is None:
            mask = self.mask
            x1, y1, x2, y2 = pixel_box(self.box)
            x1, y1 = max(x1, 0), max(y1, 0)
            x2, y2 = max(min(x2, mask.shape[1]), x1 + 1), max(min(y2, mask.shape[0]), y1 + 1)
            self._local = (x1, y1, x2, y2), mask[y1:y2, x1:x2]
        return self._local

    @property
    def area(self) -> int:
        """Mask pixels, from whichever form is at hand (nothing is decoded or expanded for it)."""
        if self._local is not None:
            return int(self._local[1].sum())
        return int(self._mask.sum()) if self._mask is not None else rle_area(self._rle)

    @property
    def rle(self) -> dict[str, Any]:
        if self._rle is None:
            if self._local is not None and self._mask is None:
                self._rle = encode_window_rle(self._local[1], self._local[0], self._size)
            else:
                self._rle = encode_rle(self._mask)
        return self._rle

    @classmethod
    def united(cls, members: list["Garment"], label: str, class_id: int) -> "Garment":
        """One garment of several: their masks united, the box around that, the best member's score and
        colour."""
        mask = np.logical_or.reduce([m.mask for m in members])
        ys, xs = np.nonzero(mask)
        box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
        best = max(members, key=lambda m: m.score)
        return cls(label, class_id, best.score, box, _mask=mask, colour=best.colour)

    def to_wire(self) -> dict[str, Any]:
        return {"label": self.label, "class_id": self.class_id, "score": self.score,
                "box": list(self.box), "rle": self.rle, "colour": self.colour}

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> "Garment":
        return cls(d["label"], d["class_id"], d["score"], tuple(d["box"]), _rle=d["rle"], colour=d.get("colour"))


class Output:
    """A typed result on an image (or a request). Subclasses are frozen dataclasses whose fields are JSON values
    or numpy arrays (arrays travel between workflow nodes as raw blobs); each is known by its class name."""
    KINDS: ClassVar[dict[str, type["Output"]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__name__ in Output.KINDS:
            raise TypeError(f"two outputs named {cls.__name__}: output names travel between nodes, keep them unique")
        Output.KINDS[cls.__name__] = cls

    @classmethod
    def kind(cls, name: str) -> type["Output"]:
        try:
            return cls.KINDS[name]
        except KeyError:
            raise ValueError(f"unknown output {name!r} in a workflow envelope: the nodes run different code; "
                             f"rebuild the archives together (`make archives`)") from None


OutputT = TypeVar("OutputT", bound=Output)


@dataclasses.dataclass(frozen=True)
class WearerFace(Output):
    """The segmenter's face evidence for a photo of a person: P(male) of the face found above the upper-body
    garments (fashion.worn.face_gender), None when none was found. Nothing else of the face is kept."""
    men_share: float | None


@dataclasses.dataclass(frozen=True)
class TrunkFeatures(Output):
    """The attribute model's pooled trunk features, the whole image first, then one row per garment, and the
    digest of the trunk that computed them (fashion.nets.trunk): the embedder projects them when its trunk agrees."""
    features: np.ndarray  # (1 + garments, width) float32
    digest: str | None


@dataclasses.dataclass(frozen=True)
class Metadata(Output):
    """A response's metadata: the photo's, and each garment's (None: no garments asked for)."""
    photo: dict[str, Any]
    garments: list[dict[str, Any]] | None = None

    @property
    def trained(self) -> bool:
        """From trained attribute heads (else random heads, which zero-shot replaces where it can)."""
        return self.photo.get("source") == "classifier"


@dataclasses.dataclass(frozen=True)
class Embeddings(Output):
    """The embedder's unit vectors: the whole image's, and each garment crop's own (None: no garments)."""
    image: np.ndarray  # (dim,)
    crops: np.ndarray | None = None  # (garments, dim)


@dataclasses.dataclass(frozen=True)
class GarmentEmbeddings(Output):
    """The garments' served embeddings (a crop's, blended with its articleType's words:
    fashion.stages.embedding_steps)."""
    vectors: np.ndarray  # (garments, dim)


@dataclasses.dataclass(frozen=True)
class Tags(Output):
    """Scores of the request's own labels (option 'labels'), best first: the whole image's and each garment's."""
    image: list[dict[str, Any]]
    garments: list[list[dict[str, Any]]]


@dataclasses.dataclass(frozen=True)
class PromptMatch(Output):
    """Garment by words (option 'prompt'): each garment's similarity, the selected garment's number or None."""
    text: str
    scores: list[float]
    selected: int | None
    threshold: float


@dataclasses.dataclass(frozen=True)
class TextEmbeddings(Output):
    """A request's answer to {"text": [...]}: one unit vector per text, and the model that embedded them."""
    vectors: np.ndarray  # (texts, dim)
    model: dict[str, Any]


class HasOutputs:
    """Outputs kept by type: `put` one, `get` it back (None when no stage wrote it)."""
    outputs: dict[type[Output], Output]

    def put(self, output: Output) -> None:
        self.outputs[type(output)] = output

    def get(self, kind: type[OutputT]) -> OutputT | None:
        return self.outputs.get(kind)  # type: ignore[return-value]


@dataclasses.dataclass
class Picture:
    """One image, held once from decode to response: the upload's bytes, its size, and what is made from it once
    and shared by every model (the decoded image, its RGB array, each model input by input spec;
    fashion.stages.stage makes them). Only the upload, the size and the model inputs travel between workflow
    nodes, and where the next models' inputs cost less to send than the upload (fashion.request.handoff), they
    travel instead of it."""
    upload: bytes | None = None  # the encoded file as it came
    size: tuple[int, int] | None = None  # (width, height)
    inputs: dict[InputSpec, torch.Tensor] = dataclasses.field(default_factory=dict, repr=False)
    decoded: Image.Image | None = dataclasses.field(default=None, repr=False)  # never sent
    rgb: np.ndarray | None = dataclasses.field(default=None, repr=False)  # uint8 (H, W, 3), never sent

    @property
    def usable(self) -> bool:
        """Something a model can read: the upload, or model inputs passed on instead."""
        return self.upload is not None or bool(self.inputs)

    def keep_inputs_only(self) -> None:
        """From here on only the model inputs travel: the upload and what was decoded from it are dropped."""
        self.upload, self.decoded, self.rgb = None, None, None


@dataclasses.dataclass
class ImageResult(HasOutputs):
    """One image's typed state, filled in stage by stage (what travels between workflow nodes)."""
    picture: Picture = dataclasses.field(default_factory=Picture)
    error: dict[str, Any] | None = None
    garments: list[Garment] | None = None  # the segmenter's garments: what the per-garment results refer to
    outputs: dict[type[Output], Output] = dataclasses.field(default_factory=dict)  # what the stages computed


@dataclasses.dataclass
class Envelope(HasOutputs):
    """One request: its images' results, options and reply shape (fashion.envelope packs it between nodes)."""
    shape: str
    options: Options
    items: list[ImageResult]
    models: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    error: dict[str, Any] | None = None  # a whole-request error (its 4xx code inside)
    texts: list[str] | None = None
    outputs: dict[type[Output], Output] = dataclasses.field(default_factory=dict)  # whole-request (TextEmbeddings)

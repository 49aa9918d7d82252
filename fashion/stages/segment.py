"""Garment segmentation with an exported YOLO-seg model (any backend): preprocess -> predict -> postprocess;
SegmenterStage runs it over envelopes and writes a response's `garments` (fashion.stages.stage)."""
from __future__ import annotations

import dataclasses
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
import torchvision
from PIL import Image

from fashion.backends import Runner
from fashion.garments.colour import dominant_colours
from fashion.errors import InvalidInput, RequestError
from fashion.manifest import Manifest, load_artifact
from fashion.garments.mask_window import mask_in_window
from fashion.garments.masks import Window, polygons, suppress_overlaps
from fashion.request.options import MAX_GARMENTS
from fashion.stages.preprocess import Letterbox, letterbox
from fashion.worn import face_gender
from fashion.results import Garment, WearerFace, pixel_box
from fashion.stages.stage import ModelStage, add_model, chunks, live, planned, rgb
from fashion.threads import pool

if TYPE_CHECKING:
    from fashion.request.options import Options
    from fashion.results import Envelope, ImageResult


# One garment per region: detections of different classes sharing this share of the smaller one's pixels are
# one garment, the best scored kept (class-agnostic, after the class-aware NMS). Chosen by bench.suppression on the
# worn split's 150 calib photos: labelled garments detected twice 71 -> 0 (0.9: 4), labelled garments found
# 0.496 -> 0.479, detections matching one 0.522 -> 0.538 (BENCHMARKS.md "Photos of people").
OVERLAP = 0.8
MIN_SCORE = 0.25  # the default confidence a garment needs (an export's own setting; a request's min_score wins)
NMS_IOU = 0.7  # class-aware NMS: boxes of one class overlapping this much are one garment


@dataclasses.dataclass(frozen=True)
class Detections:
    """One image's detections after NMS, best first, before their masks: boxes (x1, y1, x2, y2) in image pixels,
    scores, class indices and labels, and mask coefficients (n, num_masks)."""
    boxes: list[face_gender.Box]
    scores: list[float]
    class_ids: list[int]
    labels: list[str]
    coeffs: torch.Tensor


class Segmenter:
    def __init__(self, module: Runner, manifest: Manifest, device: torch.device) -> None:
        self.module, self.manifest, self.device = module, manifest, device
        self.classes: list[str] = manifest.labels["classes"]
        self.num_masks = int(manifest.settings.get("num_masks", 32))
        self.min_score = float(manifest.settings.get("min_score", MIN_SCORE))
        self.iou = float(manifest.settings.get("iou", NMS_IOU))
        self.coarse: dict[str, str | None] = manifest.labels.get("coarse") or {}
        self.coarse_groups: list[str] = manifest.labels.get("coarse_groups") or []

    def merge_coarse(self, garments: list[Garment]) -> list[Garment]:
        """One garment per coarse body group: masks united, box around them, the best member's score. A class
        the grouping table does not know stays as it is."""
        if not self.coarse_groups:
            raise InvalidInput("option 'groups': 'coarse' needs a segmenter archive exported with the grouping "
                               "table (fashion/garments/garment_groups.yaml); re-export it with `make archives`")
        merged: dict[str, list[Garment]] = {}
        kept = []
        for g in garments:
            group = self.coarse.get(g.label)
            (merged.setdefault(group, []) if group else kept).append(g)
        out = []
        for group in self.coarse_groups:
            members = merged.get(group)
            if not members:
                continue
            out.append(Garment.united(members, group, self.coarse_groups.index(group)))
        return sorted(out + kept, key=lambda g: -g.score)

    def preprocess(self, images: list[Image.Image | np.ndarray]) -> tuple[torch.Tensor, list[Letterbox]]:
        tensors, frames = zip(*(letterbox(im, self.manifest.input) for im in images))
        return torch.stack(tensors).to(self.device), list(frames)

    @torch.inference_mode()
    def predict(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        preds, protos = self.module(batch)
        return preds.float(), protos.float()

    @torch.inference_mode()
    def postprocess(self, preds: torch.Tensor, protos: torch.Tensor, frames: list[Letterbox],
                    sizes: list[tuple[int, int]], min_score: float | None = None,
                    max_garments: int = MAX_GARMENTS) -> list[list[Garment]]:
        """Score filter, class-aware NMS, masks from prototypes at full image resolution."""
        return [self.garments(self.detect(p, frame, size, min_score, max_garments), proto, frame, size)
                for p, proto, frame, size in zip(preds, protos, frames, sizes)]

    @torch.inference_mode()
    def detect(self, pred: torch.Tensor, frame: Letterbox, size: tuple[int, int], min_score: float | None = None,
               max_garments: int = MAX_GARMENTS) -> Detections:
        """One image's detections (before their masks): score filter, class-aware NMS, boxes in image pixels."""
        threshold = self.min_score if min_score is None else min_score
        nc = len(self.classes)
        pred = pred.transpose(0, 1)  # anchors x (4 + nc + nm)
        scores, class_ids = pred[:, 4:4 + nc].max(dim=1)
        keep = scores > threshold
        if not keep.any() or max_garments == 0:
            return Detections([], [], [], [], pred.new_zeros((0, self.num_masks)))
        pred, scores, class_ids = pred[keep], scores[keep], class_ids[keep]
        boxes = torchvision.ops.box_convert(pred[:, :4], "cxcywh", "xyxy")
        order = torchvision.ops.batched_nms(boxes, scores, class_ids, self.iou)[:max_garments]
        boxes, scores, class_ids = boxes[order], scores[order], class_ids[order]
        width, height = size
        boxes = ((boxes - boxes.new_tensor([frame.left, frame.top] * 2)) / frame.scale)
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
        ids = class_ids.tolist()
        return Detections([tuple(b) for b in boxes.tolist()], scores.tolist(), ids, [self.classes[c] for c in ids],
                          pred[order, 4 + nc:4 + nc + self.num_masks])

    @torch.inference_mode()
    def garments(self, found: Detections, proto: torch.Tensor, frame: Letterbox,
                 size: tuple[int, int]) -> list[Garment]:
        """The detections' masks (in their boxes, at the image's resolution), then one garment per region
        (suppress_overlaps): the garments, best first."""
        if not found.boxes:
            return []
        logits = self._logits(found.coeffs, proto, frame)
        garments = []
        for n, (box, score, cid) in enumerate(zip(found.boxes, found.scores, found.class_ids)):
            local = self._mask(logits[n], pixel_box(box), size)
            if local is not None:
                garments.append(Garment(self.classes[cid], cid, float(score), box, _local=local,
                                        _size=(size[1], size[0])))
        kept = suppress_overlaps([g.local for g in garments], [g.score for g in garments], OVERLAP)
        return [garments[i] for i in kept]

    def _logits(self, coeffs: torch.Tensor, proto: torch.Tensor, frame: Letterbox) -> np.ndarray:
        """Mask logits from prototypes, cut to the letterboxed content (prototype resolution). The product in numpy
        on this thread: torch's would wake its OpenMP pool while the face step holds a core (2.6 against 0.2 ms in
        the pipeline on 2 cores); the floats differ by rounding only (up to 1e-5, as torch's own differ with its
        thread count), a mask pixel at most where a logit is that close to 0."""
        nm, mh, mw = proto.shape
        logits = (coeffs.cpu().numpy() @ proto.cpu().numpy().reshape(nm, -1)).reshape(-1, mh, mw)
        in_h, in_w = self.manifest.input.size
        sy, sx = mh / in_h, mw / in_w
        top, left = int(frame.top * sy), int(frame.left * sx)
        bottom = int(round((frame.top + frame.height) * sy))
        right = int(round((frame.left + frame.width) * sx))
        return logits[:, top:bottom, left:right]

    @staticmethod
    def _mask(logits: np.ndarray, box: tuple[int, int, int, int],
              size: tuple[int, int]) -> tuple[Window, np.ndarray] | None:
        """One garment's mask in the image's pixels, inside its box only: (window, mask there), sampled where a
        bilinear upsampling of the whole map to the image size (align_corners=False) would, with roi_align's
        arithmetic (fashion.garments.mask_window): the same mask at a fraction of the work, and no full-size
        array. None when empty."""
        width, height = size
        window = max(box[0], 0), max(box[1], 0), min(box[2], width), min(box[3], height)
        if window[2] <= window[0] or window[3] <= window[1]:
            return None
        inside = mask_in_window(logits, window, size)
        return (window, inside) if inside.any() else None


def encode_garment(g: Garment, options: Options) -> dict[str, Any]:
    """A garment's own part of a response (the other models add theirs: embedding, tags, ...)."""
    out: dict[str, Any] = {"label": g.label, "score": round(g.score, 4),
                           "box": [round(v, 1) for v in g.box], "area": g.area, "colour": g.colour}
    if options.mask_format == "rle":
        out["mask"] = g.rle
    elif options.mask_format == "polygon":
        out["mask"] = {"size": list(g.mask.shape), "polygons": polygons(g.mask)}
    return out


# Its part of the response contract (fashion.schema composes the whole): top-level sections, what it adds
# to each garment, and definitions those use.
SCHEMA: dict[str, Any] = {'sections': {'garments': {'type': 'array', 'items': {'$ref': '#/$defs/garment'}}},
 'required': ['garments'],
 'garment': {'label': {'type': 'string'},
             'score': {'type': 'number', 'minimum': 0, 'maximum': 1},
             'box': {'type': 'array', 'items': {'type': 'number', 'minimum': 0}, 'minItems': 4, 'maxItems': 4},
             'area': {'type': 'integer', 'minimum': 1},
             'colour': {'description': "dominant colour inside the mask, named in the catalogue's baseColour "
                                       'vocabulary (fashion/garments/colour.py); null for masks under 16 pixels',
                        'type': ['object', 'null'],
                        'required': ['name', 'hex', 'share'],
                        'additionalProperties': False,
                        'properties': {'name': {'type': 'string'},
                                       'hex': {'type': 'string', 'pattern': '^#[0-9A-F]{6}$'},
                                       'share': {'type': 'number', 'minimum': 0, 'maximum': 1}}},
             'mask': {'description': 'COCO RLE (pycocotools): size is [height, width], counts the compressed '
                                     'string',
                      'type': 'object',
                      'required': ['size', 'counts'],
                      'additionalProperties': False,
                      'properties': {'size': {'type': 'array',
                                              'items': {'type': 'integer'},
                                              'minItems': 2,
                                              'maxItems': 2},
                                     'counts': {'type': 'string'}}}},
 'garment_required': ['label', 'score', 'box', 'area', 'colour', 'mask']}


class SegmenterStage(ModelStage):
    """The registry's segmenter: each image's garments (with their colour) for the requests whose plan segments;
    where metadata is asked for, the wearer's face evidence from the full-resolution photo (fashion.worn.face_gender:
    only its P(male) is kept, for the attribute stage, and only unless FASHION_FACE_GENDER=off)."""
    name: ClassVar[str] = "segmenter"
    schema: ClassVar[dict[str, Any]] = SCHEMA
    writes: ClassVar[tuple[type, ...]] = (Garment, WearerFace)

    model: Segmenter

    def __init__(self, model: Segmenter) -> None:
        super().__init__(model)
        self.faces = face_gender.load()

    @classmethod
    def load(cls, directory: str | Path, device: torch.device) -> "SegmenterStage":
        return cls(Segmenter(*load_artifact(directory, cls.name, device), device))

    def run(self, envs: list[Envelope]) -> None:
        seg = self.model
        for chunk in chunks(live(envs, planned(self.name))):
            images = [rgb(it) for _, it in chunk]
            batch, frames = seg.preprocess(images)
            preds, protos = seg.predict(batch)
            for (env, it), p, proto, frame, pixels in zip(chunk, preds, protos, frames, images):
                size, wants_face = it.picture.size, env.options.plan.emits("metadata")
                found = seg.detect(p, frame, size, env.options.min_score, env.options.max_garments)
                early = self._early_face(found, pixels, size) if wants_face else None
                it.garments = seg.garments(found, proto, frame, size)
                if env.options.groups == "coarse":
                    try:
                        it.garments = seg.merge_coarse(it.garments)
                    except RequestError as exc:
                        it.error, it.garments = exc.to_dict(), None
                        if early is not None:
                            early[1].cancel()  # not wanted (if already running, its answer is dropped)
                        continue
                face = self._face(it.garments, pixels, size, early) if wants_face else None
                self._colour(it.garments, pixels)
                if face is not None:
                    it.put(WearerFace(face.result()))
        add_model(envs, self.manifest.provenance())

    def _early_face(self, found: Detections, pixels: np.ndarray,
                    size: tuple[int, int]) -> tuple[face_gender.Box | None, Future] | None:
        """The face step started on a helper thread from the detections' boxes, while the masks are built: the
        garments kept after them usually give the same face region (then its answer is the one wanted; else it is
        dropped, _face). Only with helper threads (on one thread nothing would overlap)."""
        if self.faces is None or torch.get_num_threads() <= 1:
            return None
        region = face_gender.face_region(zip(found.labels, found.boxes), size)
        return region, self._start_face(pixels, region)

    def _face(self, garments: list[Garment], pixels: np.ndarray, size: tuple[int, int],
              early: tuple[face_gender.Box | None, Future] | None = None) -> Future | None:
        """The wearer's face evidence for the garments kept: the early start's where its region is the same, else
        started on a helper thread while the colours are measured (dlib and OpenCV release the GIL: on 2 cores the
        face step overlaps the k-means); on one thread, done here."""
        if self.faces is None:
            return None
        region = face_gender.face_region(((g.label, g.box) for g in garments), size)
        if early is not None:
            if early[0] == region:
                return early[1]
            early[1].cancel()
        return self._start_face(pixels, region)

    def _start_face(self, pixels: np.ndarray, region: face_gender.Box | None) -> Future:
        """The face step on a helper thread; on one thread, done here (its answer already in the future)."""
        threads = torch.get_num_threads()
        if threads > 1:
            return pool(threads).submit(self.faces.men_share, pixels, region)
        done: Future = Future()
        done.set_result(self.faces.men_share(pixels, region))
        return done

    @staticmethod
    def _colour(garments: list[Garment], pixels: np.ndarray) -> None:
        if garments:
            windows = [(pixels[y1:y2, x1:x2], inside) for (x1, y1, x2, y2), inside in (g.local for g in garments)]
            for g, colour in zip(garments, dominant_colours(windows, torch.get_num_threads())):
                g.colour = colour

    @staticmethod
    def respond(result: ImageResult, options: Options, response: dict[str, Any]) -> None:
        if result.garments is not None and options.plan.emits("garments"):
            response["garments"] = [encode_garment(g, options) for g in result.garments]

"""Export an ultralytics YOLO-seg model for its backend (raw head outputs; NMS and masks in fashion.stages.segment)."""
from __future__ import annotations

import copy
import dataclasses
import logging
import os
from pathlib import Path

import torch
from PIL import Image

from export._trace import ExportCheckFailed, convert_check_save, write_manifest
from export._weights import WeightsSource, find_local, warn_random
from fashion.nets.provenance import hub_reachable
from export.options import ExportOptions
from fashion.nets import segmenter_checkpoint
from fashion.backends import Runner
from fashion.nets.embedder_model import SHIPPED_WEIGHTS
from fashion.manifest import InputSpec, Manifest
from fashion.stages.segment import MIN_SCORE, NMS_IOU, Segmenter
from fashion.nets.pretrained import started_from

log = logging.getLogger("export")

HUB_REPO, HUB_FILE = "Bingsu/adetailer", "deepfashion2_yolov8s-seg.pt"  # YOLOv8s-seg on DeepFashion2
DEEPFASHION2 = ["short_sleeved_shirt", "long_sleeved_shirt", "short_sleeved_outwear", "long_sleeved_outwear",
                "vest", "sling", "shorts", "trousers", "skirt", "short_sleeved_dress", "long_sleeved_dress",
                "vest_dress", "sling_dress"]
RANDOM_ARCH = "yolov8s-seg.yaml"
MIN_MASK_IOU = 0.99


SHIPPED = SHIPPED_WEIGHTS / "segmenter.pt"  # the project's own, trained by make train-segmenter (weights/README.md)


def resolve(weights: str | None, weights_dir: str | None) -> WeightsSource:
    """An explicit path or SEGMENTER_WEIGHTS; else the project's own trained segmenter (weights/segmenter.pt,
    which wins over WEIGHTS_DIR's older baseline); else a YOLO-seg file in WEIGHTS_DIR; the hub; random."""
    weights = weights or os.environ.get("SEGMENTER_WEIGHTS") or (str(SHIPPED) if SHIPPED.is_file() else None)
    local = find_local(weights, weights_dir, ("*-seg*.pt", "*seg*.pt"))
    if local:
        return WeightsSource("local", local.name, local)
    if hub_reachable():
        from huggingface_hub import hf_hub_download
        return WeightsSource("hub", f"{HUB_REPO}/{HUB_FILE}", Path(hf_hub_download(HUB_REPO, HUB_FILE)))
    warn_random("segmenter", RANDOM_ARCH)
    return WeightsSource("random", RANDOM_ARCH)


def load_eager(source: WeightsSource) -> tuple[torch.nn.Module, list[str], str, int | None]:
    """(model, class names, architecture, training image size) in export mode, fused, eval."""
    from ultralytics.nn.modules.head import Detect
    from ultralytics.nn.tasks import SegmentationModel, load_checkpoint

    if source.random:
        torch.manual_seed(0)
        model, names, arch, imgsz = SegmentationModel(RANDOM_ARCH, nc=len(DEEPFASHION2), verbose=False), \
            DEEPFASHION2, RANDOM_ARCH.removesuffix(".yaml"), None
    elif (plain := segmenter_checkpoint.read(source.path)) is not None:  # weights/segmenter.pt: ours, no pickle
        model, _ = segmenter_checkpoint.build(plain)
        names, arch, imgsz = list(plain["names"]), plain["architecture"], plain["imgsz"]
    else:
        model, ckpt = load_checkpoint(str(source.path), device="cpu")
        names = [model.names[i] for i in sorted(model.names)]
        arch = Path(str(ckpt.get("train_args", {}).get("model", source.path.stem))).stem
        imgsz = ckpt.get("train_args", {}).get("imgsz")
    if getattr(model, "task", "segment") != "segment":
        raise ValueError(f"{source.ref} is a {model.task} model; the segmenter needs a YOLO '-seg' checkpoint")
    model = copy.deepcopy(model).float().eval().fuse(verbose=False)
    for m in model.modules():
        if isinstance(m, Detect):
            m.export, m.format, m.dynamic = True, "torchscript", False
    return model, names, arch, imgsz


def coarse_labels(names: list[str]) -> dict:
    """Each class's coarse body group (fashion/garments/garment_groups.yaml) and the groups' order, for
    "groups": "coarse"."""
    from fashion.garments.garment_groups import load

    table = load()
    return {"coarse": {n: table.coarse_of_class(n) for n in names}, "coarse_groups": list(table.coarse)}


def export(out_dir: Path, check_image: Image.Image, weights: str | None = None, weights_dir: str | None = None,
           imgsz: int | None = None, min_score: float = MIN_SCORE, backend: str = "torchscript",
           precision: str = "fp32") -> Manifest:
    source = resolve(weights, weights_dir)
    model, names, arch, trained_size = load_eager(source)
    size = int(imgsz or trained_size or 640)
    if size % 32:
        raise ValueError(f"segmenter image size must be a multiple of 32, got {size}")
    num_masks = int(model.model[-1].nm)
    manifest = Manifest(
        name="segmenter", architecture=arch, artifact="segmenter.pt",
        input=InputSpec(size=(size, size), resize="letterbox", interpolation="bilinear", pad_value=114),
        weights=source.describe(started_from(model)), labels={"classes": names, **coarse_labels(names)},
        settings={"num_masks": num_masks, "min_score": min_score, "iou": NMS_IOU, "stride": 32,
                  "backend": backend, "precision": precision}, parity={})
    check_score = 0.0 if source.random else min_score  # random heads score low: still compare their masks

    def check(traced: Runner) -> dict:
        dev = torch.device("cpu")
        eager_seg, traced_seg = Segmenter(model, manifest, dev), Segmenter(traced, manifest, dev)
        batch, frames = eager_seg.preprocess([check_image])
        a = eager_seg.postprocess(*eager_seg.predict(batch), frames, [check_image.size], check_score, 20)[0]
        b = traced_seg.postprocess(*traced_seg.predict(batch), frames, [check_image.size], check_score, 20)[0]
        if [g.class_id for g in a] != [g.class_id for g in b]:
            raise ExportCheckFailed(f"segmenter: traced classes {[g.label for g in b]} != eager {[g.label for g in a]}")
        ious = [float((x.mask & y.mask).sum() / max((x.mask | y.mask).sum(), 1)) for x, y in zip(a, b)]
        if ious and min(ious) < MIN_MASK_IOU:
            raise ExportCheckFailed(f"segmenter: traced mask IoU {min(ious):.4f} < {MIN_MASK_IOU}")
        return {"instances": len(a), "min_mask_iou": round(min(ious), 6) if ious else None}

    example = torch.zeros(1, 3, size, size)
    with torch.no_grad():  # computes the head's anchors once: traced as a constant that follows map_location,
        model(example)  # instead of an arange pinned to the CPU, which would break the archive on a GPU
    artifact, figures = convert_check_save(model, example, out_dir, "segmenter", check, backend, precision)
    manifest = dataclasses.replace(manifest, artifact=artifact, parity=figures)
    write_manifest(manifest, out_dir)
    return manifest


def export_with(out_dir: Path, check_image: Image.Image, options: ExportOptions, backend: str = "torchscript",
                precision: str = "fp32") -> Manifest:
    """export() with its part of an export run's options (the registry's entry point for every exporter)."""
    return export(out_dir, check_image, options.segmenter_weights, options.weights_dir, options.imgsz,
                  backend=backend, precision=precision)

"""The exported artifacts vs their eager models, on real photos (DESIGN.md's bars). An int8 model is compared
through the fp32 IR it was quantised from (what export converted and checked); int8 itself is held to
bench.precision's accuracy gates on held-out data, not to parity. So is the segmenter in bf16 (its precision where
export had no calibration photos, export/backends.json's cpu_fallback): its gate is mask mAP, and per-mask parity
is compared at fp32 through the same IR."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from export.quantize import reference_runner
from fashion.stages.attributes import AttributeClassifier
from fashion.request.decode import decode_image
from fashion.stages.embed import Embedder
from fashion.manifest import load_artifact
from fashion.stages.segment import Segmenter
from tests.conftest import ROOT

CPU = torch.device("cpu")


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


@pytest.fixture(scope="module")
def segmenters(export_dir):
    from export import segmenter as exporter

    module, manifest = reference_runner(export_dir, "segmenter", fp32=True)
    kind, _, ref = manifest.weights["source"].partition(":")
    if kind == "hub":
        pytest.skip("the exported segmenter came from the hub; offline we cannot rebuild its eager twin")
    weights_dir = os.environ.get("WEIGHTS_DIR") or str(export_dir.parent.parent.parent / "shared" / "weights")
    source = exporter.resolve(None, weights_dir if kind == "local" else None)
    eager, *_ = exporter.load_eager(source)
    return Segmenter(eager, manifest, CPU), Segmenter(module, manifest, CPU)


def test_segmenter_masks_match_eager(segmenters, street_photos):
    eager, traced = segmenters
    threshold = 0.0 if traced.manifest.random_weights else None
    compared = 0
    for path in street_photos:
        image = decode_image(path.read_bytes())
        batch, frames = traced.preprocess([image])
        a = eager.postprocess(*eager.predict(batch), frames, [image.size], threshold)[0]
        b = traced.postprocess(*traced.predict(batch), frames, [image.size], threshold)[0]
        assert [g.label for g in a] == [g.label for g in b], path.name
        for x, y in zip(a, b):
            assert _iou(x.mask, y.mask) >= 0.99, path.name
            compared += 1
    assert compared > 0, "no garment to compare on any photo"


def test_segmenter_agrees_with_ultralytics_predict(export_dir, street_photos, tmp_path):
    """Our letterbox/NMS/mask code against ultralytics' own predict on the same checkpoint (looser:
    ultralytics letterboxes to a minimal rectangle, we to the fixed square the artifact was traced at)."""
    from ultralytics import YOLO
    from ultralytics.utils.ops import scale_masks

    module, manifest = reference_runner(export_dir, "segmenter", fp32=True)
    if not manifest.weights["source"].startswith("local:"):
        pytest.skip("needs the local trained checkpoint")
    from fashion.nets import segmenter_checkpoint

    name = manifest.weights["source"].split(":", 1)[1]
    weights_dir = os.environ.get("WEIGHTS_DIR") or str(export_dir.parent.parent.parent / "shared" / "weights")
    path = Path(weights_dir) / name if (Path(weights_dir) / name).is_file() else ROOT / "weights" / name
    if segmenter_checkpoint.is_plain(path):  # the shipped file: wrapped for ultralytics' predict
        path = segmenter_checkpoint.to_ultralytics(path, tmp_path / "segmenter-ultralytics.pt")
    yolo = YOLO(str(path))
    ours = Segmenter(module, manifest, CPU)
    ious = []
    for path in street_photos[:8]:
        image = decode_image(path.read_bytes())
        batch, frames = ours.preprocess([image])
        mine = ours.postprocess(*ours.predict(batch), frames, [image.size])[0]
        ref = yolo.predict(np.array(image)[:, :, ::-1], imgsz=manifest.input.size[0], verbose=False,
                           conf=ours.min_score, iou=ours.iou)[0]
        if ref.masks is None:
            continue
        ref_masks = scale_masks(ref.masks.data[None], image.size[::-1])[0].numpy() > 0.5
        for g in mine:  # best-overlap reference instance of the same class
            same = [m for m, c in zip(ref_masks, ref.boxes.cls.tolist()) if int(c) == g.class_id]
            if same:
                ious.append(max(_iou(g.mask, m) for m in same))
    assert ious, "no instance matched"
    assert np.median(ious) >= 0.85, f"median IoU vs ultralytics {np.median(ious):.3f}"


def _eager_embedder(manifest):
    """open_clip's own model and transform for the exported embedder: the same seed for random weights, the
    very file (matched by sha256) for local ones; None for hub weights (not reachable here)."""
    from fashion.nets.provenance import sha256
    from fashion.nets import embedder_model

    name = manifest.settings["tokenizer"]
    if manifest.random_weights:
        torch.manual_seed(0)  # export's random init is seeded the same way
        return embedder_model.create(name)
    candidates = [os.environ.get("EMBEDDER_CHECKPOINT"), ROOT / "weights" / "embedder.pt",
                  *Path(os.environ.get("WEIGHTS_DIR") or ROOT / "weights").glob("*.pt")]
    for path in (Path(c) for c in candidates if c):
        if path.is_file() and sha256(path) == manifest.weights.get("sha256"):
            return embedder_model.create(name, pretrained=str(path))
    return None


def test_embedder_matches_open_clip(export_dir, street_photos, product_photos):
    module, manifest = load_artifact(export_dir, "embedder", CPU)
    eager = _eager_embedder(manifest)
    if eager is None:
        pytest.skip(f"the exported weights ({manifest.weights['source']}) are not on this machine")
    model, preprocess = eager
    ours = Embedder(module, manifest, CPU)
    # bf16 keeps 8 bits of mantissa: EfficientNet-Lite0's depthwise layers reach 0.998 on some photos
    floor = 0.999 if manifest.settings.get("precision", "fp32") == "fp32" else 0.997
    for path in [*street_photos[:4], *product_photos[:4]]:
        image = decode_image(path.read_bytes())
        got = ours.predict(ours.preprocess([image])[0])[0]
        with torch.no_grad():
            ref = torch.nn.functional.normalize(model.encode_image(preprocess(image)[None]), dim=-1)[0]
        assert float(got @ ref) >= floor, path.name


def test_attributes_same_top1_as_eager(export_dir, product_photos, street_photos):
    from export.attributes import load_model
    from fashion.nets.attribute_model import WithFeatures

    module, manifest = load_artifact(export_dir, "attributes", CPU)
    if not manifest.random_weights:
        pytest.skip("trained checkpoints are compared by the training tests")
    eager, *_ = load_model(None, manifest.architecture)
    a, b = AttributeClassifier(WithFeatures(eager.eval()), manifest, CPU), AttributeClassifier(module, manifest, CPU)
    images = [decode_image(p.read_bytes()) for p in [*product_photos, *street_photos[:4]]]
    batch = a.preprocess(images)
    heads = manifest.labels["heads"]
    for x, y in zip(a.postprocess(a.predict(batch)[0]), b.postprocess(b.predict(batch)[0]), strict=True):
        assert {h: x[h]["label"] for h in heads} == {h: y[h]["label"] for h in heads}

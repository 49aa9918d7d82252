"""The weights this repository ships are what their sha256 files say, small, and loadable without pickle."""
from __future__ import annotations

import hashlib

import pytest
import torch

from tests.conftest import ROOT

SHIPPED = sorted((ROOT / "weights").glob("*.pt"))


KEYS = {"attributes.pt": {"architecture", "input_size", "heads", "state_dict", "report"},
        "embedder.pt": {"architecture", "init", "split_sha256", "state_dict", "report"},
        "segmenter.pt": {"architecture", "yaml", "names", "imgsz", "state_dict", "report"}}


def test_the_trained_models_are_shipped():
    assert [p.name for p in SHIPPED] == ["attributes.pt", "embedder.pt", "segmenter.pt"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT / "weights")))
def test_shipped_weights_match_their_sha256_and_load(path):
    expected = (path.parent / f"{path.name}.sha256").read_text().split()[0]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == expected
    assert path.stat().st_size < 50 * 2**20
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    assert KEYS[path.name] <= set(checkpoint)


def test_the_shipped_embedder_trunk_is_the_attribute_models_backbone():
    """One trunk serves both (fashion.nets.trunk): the embedder's image trunk (stored in fp16) equals the attribute
    backbone at fp16."""
    attributes = torch.load(ROOT / "weights" / "attributes.pt", map_location="cpu", weights_only=True)["state_dict"]
    embedder = torch.load(ROOT / "weights" / "embedder.pt", map_location="cpu", weights_only=True)["state_dict"]
    trunk = {k.removeprefix("visual.trunk."): v for k, v in embedder.items() if k.startswith("visual.trunk.")}
    backbone = {k.removeprefix("backbone."): v for k, v in attributes.items() if k.startswith("backbone.")}
    assert trunk.keys() == backbone.keys()
    assert all(torch.equal(trunk[k].half(), backbone[k].half()) for k in trunk)


def test_the_shipped_embedder_is_our_architecture_and_loads_through_open_clip():
    from fashion.nets import embedder_model

    path = ROOT / "weights" / "embedder.pt"
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    assert checkpoint["architecture"] == embedder_model.ARCHITECTURE
    model, _ = embedder_model.create(checkpoint["architecture"], pretrained=str(path))  # strict load
    assert embedder_model.embedding_dim(model) == checkpoint["report"]["model"]["embed_dim"]


def test_the_shipped_segmenter_builds_and_serves_our_groups():
    from fashion.nets import segmenter_checkpoint
    from fashion.garments.garment_groups import load

    model, checkpoint = segmenter_checkpoint.build(ROOT / "weights" / "segmenter.pt")
    assert list(checkpoint["names"]) == list(load().groups) and checkpoint["imgsz"] == 416
    assert checkpoint["architecture"] == "yolo-seg-lite0"  # YOLOv8n-seg's neck and head on EfficientNet-Lite0
    assert checkpoint["report"]["validation"]["mask_map50"] > 0.381  # above the earlier YOLOv8n-seg on our split
    out = model(torch.zeros(1, 3, 320, 320))
    assert isinstance(out, tuple)

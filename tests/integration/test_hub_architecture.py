"""A hub embedder of another architecture (Marqo-FashionSigLIP's: a 768-d ViT-B-16-SigLIP with SigLIP's
squash preprocessing) through the same code as ours: export with random weights of that architecture, the
parity check against open_clip's own transform, the archive, the handler serving it, the response contract."""
from __future__ import annotations

import json
import zipfile

import jsonschema
import numpy as np
import torch

from tests.conftest import PRODUCTS, ROOT
from tests.unit.tiny_models import FakeContext

MARQO = ROOT / "tests" / "fixtures" / "marqo-fashionSigLIP"


def test_marqo_fashion_siglip_architecture_exports_and_serves(tmp_path, response_schema):
    from export import embedder
    from export.archive import _model_files, build_mar
    from fashion.nets import embedder_model
    from fashion.request.decode import decode_image
    from handlers.model_handler import ModelHandler

    name = f"local-dir:{MARQO}"
    photo = sorted(PRODUCTS.glob("*.jpg"))[3]
    image = decode_image(photo.read_bytes())
    manifest = embedder.export(tmp_path / "export", image, name, text=False, backend="torchscript")
    assert manifest.architecture == "marqo-fashionSigLIP" and manifest.random_weights
    assert manifest.settings["embed_dim"] == 768 and manifest.input.size == (224, 224)
    assert manifest.input.resize == "squash" and manifest.input.mean == (0.5, 0.5, 0.5)
    assert manifest.parity["cosine_vs_open_clip"] >= 0.999 and manifest.settings["text_artifact"] is None

    mar = build_mar("embedder", _model_files(tmp_path / "export", "embedder"), tmp_path / "store", tmp_path / "build")
    zipfile.ZipFile(mar).extractall(tmp_path / "unpacked")
    handler, context = ModelHandler(), FakeContext(tmp_path / "unpacked", "embedder")
    handler.initialize(context)
    body = json.loads(handler.handle([{"body": photo.read_bytes()}], context)[0])
    sections = {k: response_schema["properties"][k] for k in ("image", "embedding", "models")}  # the embedder's part
    sections["models"] = {**sections["models"], "minItems": 1}  # one model answers here, not three
    jsonschema.validate(body, {**response_schema, "required": ["embedding", "models"], "properties": sections})
    assert body["models"] == [{"name": "embedder", "architecture": "marqo-fashionSigLIP",
                               "weights": "random:marqo-fashionSigLIP", "random_weights": True}]
    torch.manual_seed(0)  # export's seeded random init, rebuilt eagerly with open_clip's own transform
    model, preprocess = embedder_model.create(name)
    with torch.no_grad():
        eager = torch.nn.functional.normalize(model.encode_image(preprocess(image)[None]), dim=-1)[0].numpy()
    assert float(np.array(body["embedding"]) @ eager) >= 0.999
    refused = json.loads(handler.handle([{"body": {"text": ["red dress"]}}], context)[0])
    assert refused["error"]["code"] == 400 and "text tower" in refused["error"]["message"]


def test_the_tinyvit_attribute_model_still_exports_and_serves(tmp_path, response_schema):
    """The earlier trunk (tiny_vit_5m_224, with its ImageNet weights from the hub for users who have one) goes
    through the same export, archive and handler as the default EfficientNet-Lite, at random weights here, with
    its own input statistics and size from its checkpoint."""
    from export import attributes
    from export.archive import _model_files, build_mar
    from export.vocabulary import load_default
    from fashion.nets.attribute_model import IMAGENET_MEAN, build
    from fashion.request.decode import decode_image
    from handlers.model_handler import ModelHandler

    heads = load_default()["heads"]
    torch.manual_seed(0)
    model = build("tiny_vit_5m_224", heads)
    checkpoint = tmp_path / "attributes-tinyvit.pt"
    torch.save({"architecture": "tiny_vit_5m_224", "input_size": 112, "heads": heads,
                "mapping": load_default()["mapping"], "state_dict": model.state_dict()}, checkpoint)
    photo = sorted(PRODUCTS.glob("*.jpg"))[3]
    manifest = attributes.export(tmp_path / "export", decode_image(photo.read_bytes()), str(checkpoint),
                                 backend="torchscript")
    assert manifest.architecture == "tiny_vit_5m_224" and manifest.input.size == (112, 112)
    assert manifest.input.mean == IMAGENET_MEAN and manifest.parity["same_top1"]
    mar = build_mar("attributes", _model_files(tmp_path / "export", "attributes"), tmp_path / "store",
                    tmp_path / "build")
    zipfile.ZipFile(mar).extractall(tmp_path / "unpacked")
    handler, context = ModelHandler(), FakeContext(tmp_path / "unpacked", "attributes")
    handler.initialize(context)
    body = json.loads(handler.handle([{"body": photo.read_bytes()}], context)[0])
    assert set(body["metadata"]) >= {"gender", "articleType", "productDisplayName"}, body
    assert body["models"][0]["architecture"] == "tiny_vit_5m_224"

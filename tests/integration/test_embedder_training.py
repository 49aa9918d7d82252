"""Embedder training end to end on a tiny real catalogue: locked-image tuning from an attribute backbone, the
report (trained beside random weights) reproduced by `evaluate-embedder`, an interrupted run resumed exactly,
and the checkpoint exported through the same open_clip path as any model, into an archive that serves it."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import PRODUCTS, ROOT
from tests.integration.conftest import ROWS
from tests.unit.tiny_models import FakeContext
from training.__main__ import main

ATTRIBUTES = ROOT / "weights" / "attributes.pt"
TINY = ["--epochs", "3", "--batch-size", "32", "--patience", "5", "--split", "none.csv",
        "--attributes-checkpoint", str(ATTRIBUTES)]


def _args(catalogue, out: Path) -> list[str]:
    csv_path, images = catalogue
    return ["embedder", "--csv", str(csv_path), "--images", str(images), "--out", str(out), *TINY]


@pytest.fixture(scope="module")
def trained(catalogue, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("embedder")
    assert main([*_args(catalogue, out), "--report-dir", str(out / "report")]) == 0
    return out


def test_report_puts_trained_beside_random_and_the_classifier(trained):
    report = json.loads((trained / "report" / "embedder.json").read_text())
    assert report["training"]["image_trunk"] == "locked" and report["training"]["init"] == "attributes"
    assert sum(report["data"]["split_rows"].values()) == ROWS
    assert report["data"]["skipped"]["unreadable image"]["rows"] == 1
    for weights in ("trained", "random"):
        figures = report["test"][weights]
        assert 0 <= figures["text_to_image"]["R@10"] <= 1 and figures["text_to_image"]["queries"] > 0
        assert set(figures["image_to_image_P@10"]) == {"articleType", "articleType+baseColour"}
        assert set(figures["zero_shot"]) == {"gender", "articleType", "baseColour", "season", "usage"}
    assert set(report["test"]["classifier"]) == set(report["test"]["trained"]["zero_shot"])
    md = (trained / "report" / "embedder.md").read_text()
    assert "| trained | random weights |" in md and "attribute classifier" in md


def test_the_image_trunk_stayed_the_attribute_backbone(trained):
    backbone = torch.load(ATTRIBUTES, weights_only=True)["state_dict"]
    ours = torch.load(trained / "embedder.pt", weights_only=True)["state_dict"]
    trunk = {k.removeprefix("backbone."): v for k, v in backbone.items() if k.startswith("backbone.")}
    assert trunk and all(torch.equal(ours[f"visual.trunk.{k}"], v.half()) for k, v in trunk.items())


def test_evaluate_embedder_reproduces_the_report(trained, catalogue, capsys):
    csv_path, images = catalogue
    assert main(["evaluate-embedder", "--checkpoint", str(trained / "embedder.pt"), "--csv", str(csv_path),
                 "--images", str(images), "--split", str(trained / "split.csv")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["matches_report"] is True and out["differences"] == []


def test_interrupted_run_resumes_to_the_same_model(trained, catalogue, tmp_path):
    assert main([*_args(catalogue, tmp_path), "--stop-after", "1"]) == 0
    assert not (tmp_path / "embedder.json").exists()
    assert main([*_args(catalogue, tmp_path), "--resume"]) == 0
    a = torch.load(trained / "embedder.pt", weights_only=True)
    b = torch.load(tmp_path / "embedder.pt", weights_only=True)
    untimed = [[{k: v for k, v in e.items() if k != "seconds"} for e in x["report"]["training"]["history"]]
               for x in (a, b)]
    assert untimed[0] == untimed[1] and len(untimed[0]) == 3
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])


def test_checkpoint_exports_and_serves_through_the_embedder_archive(trained, tmp_path):
    from export import embedder
    from export.archive import _model_files, build_mar
    from fashion.nets import embedder_model
    from fashion.nets.attribute_model import INPUT_SIZE
    from fashion.request.decode import decode_image
    from handlers.model_handler import ModelHandler

    photo = sorted(PRODUCTS.glob("*.jpg"))[0]
    image = decode_image(photo.read_bytes())
    manifest = embedder.export(tmp_path / "export", image, weights=str(trained / "embedder.pt"),
                               backend="torchscript",
                               vocabulary={"heads": {"gender": ["Men", "Women"]}, "mapping": {}})
    assert manifest.architecture == embedder_model.ARCHITECTURE and not manifest.random_weights
    assert manifest.input.size == (INPUT_SIZE, INPUT_SIZE) and manifest.settings["embed_dim"] == 256
    assert manifest.parity["cosine_vs_open_clip"] >= 0.999
    mar = build_mar("embedder", _model_files(tmp_path / "export", "embedder"), tmp_path / "store", tmp_path / "build")
    zipfile.ZipFile(mar).extractall(tmp_path / "unpacked")
    handler, context = ModelHandler(), FakeContext(tmp_path / "unpacked", "embedder")
    handler.initialize(context)
    served = np.array(json.loads(handler.handle([{"body": photo.read_bytes()}], context)[0])["embedding"])
    model, preprocess = embedder_model.create(pretrained=str(trained / "embedder.pt"))
    with torch.no_grad():
        eager = torch.nn.functional.normalize(model.encode_image(preprocess(image)[None]), dim=-1)[0].numpy()
    assert float(served @ eager) >= 0.999
    texts = json.loads(handler.handle([{"body": {"text": ["men black tshirts"]}}], context)[0])
    assert len(texts["embeddings"][0]) == 256

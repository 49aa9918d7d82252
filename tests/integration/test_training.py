"""Attribute training end to end on a tiny real subset: bad rows skipped, report reproduced by `evaluate`,
an interrupted run resumed exactly, and the checkpoint exported into a served archive."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import torch

from tests.conftest import PRODUCTS
from tests.integration.conftest import ROWS
from tests.unit.tiny_models import FakeContext
from training.__main__ import main

TINY = ["--epochs", "2", "--input-size", "64", "--min-count", "4", "--batch-size", "32"]


@pytest.fixture(scope="module")
def trained(catalogue, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    csv_path, images = catalogue
    assert main(["train", "--csv", str(csv_path), "--images", str(images), "--out", str(out),
                 "--report-dir", str(out / "report"), *TINY]) == 0
    return out


def test_report_has_every_figure_and_the_skipped_rows(trained):
    report = json.loads((trained / "report" / "attributes.json").read_text())
    assert set(report["test"]) == {"gender", "articleType", "baseColour", "season", "usage"}
    for m in report["test"].values():
        assert m["rows"] > 0 and 0 <= m["accuracy"] <= 1 and 0 <= m["macro_f1"] <= 1
        assert 0 <= m["majority_accuracy"] <= 1 and m["confusion"]["rows"]
    split = report["data"]["split_rows"]
    assert sum(split.values()) == ROWS and split["test"] == pytest.approx(0.2 * ROWS, abs=3)
    skipped = report["data"]["skipped"]
    assert skipped["wrong number of columns"]["rows"] == 1 and skipped["unreadable image"]["rows"] == 1
    assert "90000002" in skipped["no image for id"]["examples"]
    md = (trained / "report" / "attributes.md").read_text()
    assert "majority" in md and "| gender |" in md


def test_evaluate_reproduces_the_report(trained, catalogue, capsys):
    csv_path, images = catalogue
    assert main(["evaluate", "--checkpoint", str(trained / "attributes.pt"), "--csv", str(csv_path),
                 "--images", str(images)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["matches_report"] is True and out["differences"] == []


def test_interrupted_run_resumes_to_the_same_model(trained, catalogue, tmp_path):
    csv_path, images = catalogue
    args = ["train", "--csv", str(csv_path), "--images", str(images), "--out", str(tmp_path), *TINY]
    assert main([*args, "--stop-after", "1"]) == 0
    assert not (tmp_path / "report").exists() and len(_history(tmp_path)) == 1
    assert main([*args, "--resume"]) == 0
    assert len(_history(tmp_path)) == 2
    a = torch.load(trained / "attributes.pt", weights_only=True)
    b = torch.load(tmp_path / "attributes.pt", weights_only=True)
    assert a["report"]["test"] == b["report"]["test"]
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])


def test_checkpoint_exports_to_an_archive_that_serves_its_labels(trained, tmp_path):
    from export import attributes
    from export.archive import _model_files, build_mar
    from fashion.request.decode import decode_image
    from handlers.model_handler import ModelHandler

    photo = sorted(PRODUCTS.glob("*.jpg"))[0]
    manifest = attributes.export(tmp_path / "export", decode_image(photo.read_bytes()),
                                 str(trained / "attributes.pt"))
    assert manifest.settings["trained_heads"] is True and manifest.input.size == (64, 64)
    assert manifest.labels["report"]["test"]["gender"]["rows"] > 0
    mar = build_mar("attributes", _model_files(tmp_path / "export", "attributes"), tmp_path / "store",
                    tmp_path / "build")
    unpacked = tmp_path / "unpacked"
    zipfile.ZipFile(mar).extractall(unpacked)
    handler = ModelHandler()
    context = FakeContext(unpacked, "attributes")
    handler.initialize(context)
    meta = json.loads(handler.handle([{"body": photo.read_bytes()}], context)[0])["metadata"]
    ckpt = torch.load(trained / "attributes.pt", weights_only=True)
    assert meta["source"] == "classifier"
    assert all(meta[h]["label"] in ckpt["heads"][h] for h in ckpt["heads"])


def _history(out: Path) -> list:
    return torch.load(out / "last.pt", weights_only=False)["state"]["history"]

"""int8 (export/quantize.py): NNCF on an exported OpenVINO IR, calibrated on training-split photos only."""
from __future__ import annotations

import json
import shutil

import pytest
import torch
from PIL import Image

from export import quantize
from fashion.backends import load_runner
from fashion.manifest import Manifest

CPU = torch.device("cpu")


@pytest.fixture
def attributes_ir(export_dir, tmp_path):
    manifest = json.loads((export_dir / "attributes.json").read_text())
    if manifest["settings"].get("backend") != "openvino":
        pytest.skip("the attribute archive is not an OpenVINO export")
    fp32 = manifest["settings"].get("fp32_artifact", manifest["artifact"])
    for name in ("attributes.json", fp32, fp32.replace(".xml", ".bin")):
        shutil.copy2(export_dir / name, tmp_path / name)
    return tmp_path


def test_calibration_reads_training_photos_only():
    import csv

    root = quantize.data_root()
    held_out = {r["id"] for r in csv.DictReader(open(quantize.REPORTS / "attributes_split.csv"))
                if r["split"] != "train"}
    val = {r["id"] for r in csv.DictReader(open(quantize.REPORTS / "segmenter_split.csv")) if r["split"] == "val"}
    assert not {p.stem for p in quantize.photos(root, "products", 500)} & held_out
    assert not {p.stem for p in quantize.photos(root, "street", 500)} & val


def test_int8_attributes_agree_with_fp32_and_the_manifest_says_int8(attributes_ir, monkeypatch, product_photos):
    monkeypatch.setitem(quantize.CALIBRATION_SIZE, "attributes", 32)  # a small calibration set: the test's speed
    manifest = quantize.adopt(attributes_ir, "attributes", quantize.data_root())
    assert manifest.precision == "int8" and manifest.artifact == "attributes.int8.xml"
    assert Manifest.load(attributes_ir / "attributes.json").settings["calibration"]["inputs"] == 32
    from fashion.stages.attributes import AttributeClassifier

    fp32 = load_runner(attributes_ir / manifest.settings["fp32_artifact"], "openvino", CPU)
    int8 = load_runner(attributes_ir / manifest.artifact, "openvino", CPU, precision="int8")
    stage = AttributeClassifier(int8, manifest, CPU)
    batch = stage.preprocess([Image.open(p).convert("RGB") for p in product_photos])
    heads = len(stage.heads)  # the graph's outputs: the heads, then the trunk features
    same = [(a.argmax(1) == b.argmax(1)).float().mean().item()
            for a, b in zip(fp32(batch)[:heads], int8(batch)[:heads])]
    assert min(same) >= 0.75  # the real gate (bench.precision, >= 99 % on 1,731 held-out products) chooses int8


def test_no_photos_is_a_clear_error(attributes_ir, tmp_path):
    with pytest.raises(quantize.NoCalibrationData, match="FASHION_CALIBRATION_DATA"):
        quantize.quantize(attributes_ir, "attributes", tmp_path / "empty")


def test_stage_copies_what_calibration_reads(tmp_path, monkeypatch):
    monkeypatch.setitem(quantize.CALIBRATION_SIZE, "segmenter", 3)
    monkeypatch.setitem(quantize.CALIBRATION_SIZE, "attributes", 2)
    monkeypatch.setitem(quantize.CALIBRATION_SIZE, "embedder", 2)
    monkeypatch.setattr(quantize, "STREET_FOR_CROPS", 1)
    assert quantize.stage(tmp_path / "cal", quantize.data_root()) == 5
    assert quantize.photos(tmp_path / "cal", "street", 10) == quantize.photos(tmp_path / "cal", "street", 3)
    assert len(quantize.photos(tmp_path / "cal", "products", 10)) == 2

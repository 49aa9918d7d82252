"""Real annotations to a YOLO-seg folder: Clothing Co-Parsing label maps, CIHP label maps and Fashionpedia's
COCO polygons, through the one grouping table; the split is fixed once written."""
from __future__ import annotations

import shutil

import yaml

from tests.conftest import ROOT, SHARED
from training.__main__ import main

DATA = SHARED / "data"


def _subset(tmp_path, n: int = 12):
    """The first n street photos and their label maps (linked, never copied)."""
    root = tmp_path / "ccp"
    (root / "photos").mkdir(parents=True)
    (root / "labels").mkdir()
    shutil.copy(DATA / "street_photos" / "label_list.json", root)
    for label in sorted((DATA / "street_photos" / "labels").glob("*.png"))[:n]:
        (root / "labels" / label.name).symlink_to(label)
        (root / "photos" / f"{label.stem}.jpg").symlink_to(DATA / "street_photos" / "photos" / f"{label.stem}.jpg")
    return root


def test_street_photos_convert_with_a_fixed_split_and_a_report(tmp_path):
    root, out, split = _subset(tmp_path), tmp_path / "yolo", tmp_path / "split.csv"
    args = ["segmenter-data", "--root", str(root), "--out", str(out), "--split", str(split)]
    assert main([*args, "--report-dir", str(tmp_path / "report")]) == 0
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["names"][0] == "top" and len(data["names"]) == 12
    labels = sorted((out / "labels").rglob("*.txt"))
    assert len(labels) == 12 and (out / "images" / "val").is_dir()
    classes = {int(line.split()[0]) for p in labels for line in p.read_text().splitlines()}
    assert {0, 6} <= classes  # tops and footwear on street photos
    first = split.read_text()
    assert main(args) == 0 and split.read_text() == first  # read back, never redrawn
    report = (tmp_path / "report" / "segmenter_data.md").read_text()
    assert "| footwear | footwear |" in report and (tmp_path / "report" / "segmenter_heatmaps.png").stat().st_size > 0


def test_cihp_and_fashionpedia_convert_through_the_same_table(tmp_path):
    cihp = tmp_path / "cihp"
    assert main(["segmenter-data", "--source", "cihp", "--root", str(DATA / "human_parsing_sample"), "--out",
                 str(cihp), "--split", str(tmp_path / "cihp.csv")]) == 0
    assert len(list((cihp / "labels").rglob("*.txt"))) == 5
    coco = tmp_path / "coco"
    assert main(["segmenter-data", "--source", "coco", "--root", str(DATA / "fashionpedia_sample"), "--out",
                 str(coco), "--split", str(tmp_path / "coco.csv")]) == 0
    lines = [line for p in (coco / "labels").rglob("*.txt") for line in p.read_text().splitlines()]
    assert len(lines) >= 2 and all(len(line.split()) >= 7 for line in lines)


def test_a_tiny_segmenter_trains_from_the_config_and_evaluates_per_class(tmp_path):
    from training.segmentation.train import SegmenterConfig, evaluate, prepare, train

    root = _subset(tmp_path, 16)
    config = tmp_path / "segmenter.yaml"
    raw = yaml.safe_load((ROOT / "configs" / "segmenter.yaml").read_text())
    raw.update(imgsz=64, epochs=1, batch=8, data={**raw["data"], "root": str(root), "split": str(tmp_path / "s.csv")})
    config.write_text(yaml.safe_dump(raw))
    cfg = SegmenterConfig.read(config)
    best = train(cfg, run_dir=tmp_path / "run")
    assert best.is_file() and (tmp_path / "run" / "run" / "weights" / "last.pt").is_file()
    figures = evaluate(best, prepare(cfg, tmp_path / "eval"), cfg.imgsz)
    assert set(figures) >= {"mask_map50", "mask_map50_95", "box_map50", "box_map50_95", "per_class"}
    assert 0 <= figures["mask_map50"] <= 1 and set(figures["per_class"]) <= set(yaml.safe_load(
        (tmp_path / "eval" / "data.yaml").read_text())["names"].values())

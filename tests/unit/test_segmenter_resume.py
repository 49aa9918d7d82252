"""A segmenter run in progress travels between machines as a plain file (no pickle, under 50 MB) that
ultralytics resumes from the next epoch; the pretrained trunk layer is known to its model builder."""
from __future__ import annotations

import pytest
import torch

from fashion.nets import pretrained, segmenter_checkpoint
from tests.conftest import ROOT


def _run_checkpoint(path, epoch: int):
    from ultralytics.nn.tasks import SegmentationModel

    torch.manual_seed(0)
    model = SegmentationModel("yolov8n-seg.yaml", nc=3, verbose=False)
    model.names = {0: "top", 1: "pants", 2: "footwear"}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for p in model.parameters():
        p.grad = torch.ones_like(p) * 1e-3
    optimizer.step()
    torch.save({"epoch": epoch, "best_fitness": 0.25, "model": model.half(), "ema": model.half(), "updates": 40,
                "optimizer": optimizer.state_dict(), "train_args": {"imgsz": 416, "data": "/elsewhere/data.yaml",
                                                                    "epochs": 40, "callbacks": object()}}, path)
    return model


def test_a_run_in_progress_round_trips_through_the_plain_resume_file(tmp_path):
    model = _run_checkpoint(tmp_path / "last.pt", epoch=6)
    plain = segmenter_checkpoint.to_resume(tmp_path / "last.pt", tmp_path / "resume.pt", {"note": "test"})
    saved = torch.load(plain, map_location="cpu", weights_only=True)  # no pickled code
    assert saved["epoch"] == 6 and saved["names"] == ["top", "pants", "footwear"]
    assert "callbacks" not in saved["train_args"]  # plain values only
    last = segmenter_checkpoint.from_resume(plain, tmp_path / "run" / "weights" / "last.pt",
                                            {"data": "/here/data.yaml"})
    ckpt = torch.load(last, map_location="cpu", weights_only=False)
    assert ckpt["epoch"] == 6 and ckpt["updates"] == 40 and ckpt["train_args"]["data"] == "/here/data.yaml"
    assert ckpt["optimizer"]["state"] and all(v.dtype == torch.float32 for s in ckpt["optimizer"]["state"].values()
                                              for v in s.values() if v.ndim)
    for k, v in model.state_dict().items():
        assert torch.equal(ckpt["ema"].state_dict()[k], v), k


def test_a_finished_run_is_not_a_resume_file(tmp_path):
    _run_checkpoint(tmp_path / "last.pt", epoch=-1)
    with pytest.raises(ValueError, match="finished"):
        segmenter_checkpoint.to_resume(tmp_path / "last.pt", tmp_path / "resume.pt", {})


def test_the_pretrained_trunk_layer_builds_from_its_config():
    from ultralytics.nn.tasks import SegmentationModel

    from fashion.nets.segmenter_backbone import TimmBackbone, register

    register()
    model = SegmentationModel("configs/yolo-seg-lite0.yaml", nc=12, verbose=False)
    assert isinstance(model.model[0], TimmBackbone) and model.stride.tolist() == [8.0, 16.0, 32.0]
    assert model.model[0].channels == (40, 112, 320)
    packaged = pretrained.create("tf_efficientnet_lite0").state_dict()
    assert torch.equal(model.model[0].m.state_dict()["conv_stem.weight"], packaged["conv_stem.weight"])
    with pytest.raises(ValueError, match="weights must be"):
        TimmBackbone("tf_efficientnet_lite0", "imagenet")


def test_training_threads_default_to_every_core_not_ultralytics_one():
    import os

    from training.segmentation.train import SegmenterConfig, use_threads

    before = torch.get_num_threads()
    try:
        n, callback = use_threads(None)
        torch.set_num_threads(1)  # what ultralytics' select_device sets on 2 cores
        callback(None)
        assert n == (os.cpu_count() or 1) == torch.get_num_threads()
        assert use_threads(1)[0] == 1
    finally:
        torch.set_num_threads(before)
    assert SegmenterConfig.read(ROOT / "configs" / "segmenter-long.yaml").threads is None

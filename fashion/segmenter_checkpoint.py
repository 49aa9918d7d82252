"""The shipped segmenter's file format (weights/segmenter.pt), shared by training (which writes it) and export
(which reads it): a plain dict that torch.load(weights_only=True) opens, no pickled code, unlike ultralytics'
own checkpoints. {"architecture", "yaml" (the ultralytics model config), "names", "imgsz", "state_dict" (fp16),
"report"}.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

KEYS = ("architecture", "yaml", "names", "imgsz", "state_dict", "report")


def read(path: Path) -> dict[str, Any] | None:
    """The file's dict when it is in this format; None for anything else (an ultralytics checkpoint)."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # an ultralytics checkpoint (pickled modules) or not a checkpoint
        return None
    return ckpt if isinstance(ckpt, dict) and set(KEYS) <= set(ckpt) else None


def is_plain(path: Path) -> bool:
    return read(path) is not None


def build(source: Path | dict[str, Any]) -> tuple[torch.nn.Module, dict[str, Any]]:
    """(the ultralytics SegmentationModel with the weights, in fp32; the file's dict), from a path or read()'s dict."""
    from ultralytics.nn.tasks import SegmentationModel

    from fashion.segmenter_backbone import register

    register()  # a config may name the pretrained trunk layer
    ckpt = source if isinstance(source, dict) else torch.load(source, map_location="cpu", weights_only=True)
    model = SegmentationModel(dict(ckpt["yaml"]), nc=len(ckpt["names"]), verbose=False)
    model.load_state_dict({k: v.float() for k, v in ckpt["state_dict"].items()})
    model.names = dict(enumerate(ckpt["names"]))
    model.nc, model.args = len(ckpt["names"]), {"task": "segment", "imgsz": ckpt["imgsz"]}
    return model.eval(), ckpt


def from_ultralytics(best: Path, out: Path, report: dict[str, Any]) -> Path:
    """A trained ultralytics checkpoint (our own build output, so unpickling it is safe) -> the plain format."""
    ckpt = torch.load(best, map_location="cpu", weights_only=False)
    model = (ckpt.get("ema") or ckpt["model"]).float()
    names = [model.names[i] for i in sorted(model.names)]
    args = ckpt.get("train_args", {})
    config = model.yaml.get("yaml_file") or args.get("model", "yolov8n-seg.yaml")  # train_args' is last.pt on resume
    torch.save({"architecture": Path(str(config)).stem, "yaml": dict(model.yaml),
                "names": names, "imgsz": int(args.get("imgsz", 320)),
                "state_dict": {k: v.half() for k, v in model.state_dict().items()},
                "report": {**report, "epoch": int(ckpt.get("epoch", -1)) + 1}}, out)
    return out


def same_weights(path: Path, best: Path) -> bool:
    """Whether the plain file holds exactly the ultralytics checkpoint's (EMA, fp16) weights."""
    plain = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    ckpt = torch.load(best, map_location="cpu", weights_only=False)
    ref = (ckpt.get("ema") or ckpt["model"]).state_dict()
    return set(plain) == set(ref) and all(torch.equal(plain[k], ref[k].half()) for k in ref)


def to_ultralytics(path: Path, out: Path) -> Path:
    """The plain format wrapped as an ultralytics checkpoint, for ultralytics' own predict (the parity test)."""
    model, ckpt = build(path)
    torch.save({"model": model.half(), "train_args": {"imgsz": ckpt["imgsz"], "task": "segment"}}, out)
    return out

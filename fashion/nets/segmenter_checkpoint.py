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

    from fashion.nets.segmenter_backbone import register

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


RESUME_KEYS = ("yaml", "names", "state_dict", "ema_updates", "epoch", "best_fitness", "train_args", "optimizer",
               "report")


def _cast(state: Any, dtype: torch.dtype) -> Any:
    """An optimizer state dict with its floating tensors in `dtype` (the rest as it is)."""
    if isinstance(state, torch.Tensor):
        return state.to(dtype) if state.is_floating_point() and state.ndim > 0 else state
    if isinstance(state, dict):
        return {k: _cast(v, dtype) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_cast(v, dtype) for v in state)
    return state


def to_resume(last: Path, out: Path, report: dict[str, Any]) -> Path:
    """A run's last.pt (ultralytics, pickled) -> a plain file a later session resumes from on another machine,
    loadable with weights_only=True and under 50 MB: the EMA weights in fp16 (the resumed run's model and EMA
    both start from them), the optimizer's moments in bf16, the epoch, the best fitness, the training arguments."""
    ckpt = torch.load(last, map_location="cpu", weights_only=False)
    if int(ckpt.get("epoch", -1)) < 0 or ckpt.get("optimizer") is None:
        raise ValueError(f"{last} is a finished run's checkpoint: nothing to resume")
    ema = (ckpt.get("ema") or ckpt["model"]).float()
    names = [ema.names[i] for i in sorted(ema.names)]
    args = {k: v for k, v in ckpt.get("train_args", {}).items() if isinstance(v, (str, int, float, bool, type(None)))}
    state = {k: v.half() for k, v in ema.state_dict().items()}
    torch.save({"yaml": dict(ema.yaml), "names": names, "state_dict": state,
                "ema_updates": int(ckpt.get("updates") or 0), "epoch": int(ckpt.get("epoch", -1)),
                "best_fitness": float(ckpt.get("best_fitness") or 0.0), "train_args": args,
                "optimizer": _cast(ckpt["optimizer"], torch.bfloat16), "report": report}, out)
    return out


def from_resume(path: Path, last: Path, overrides: dict[str, Any]) -> Path:
    """The plain resume file -> an ultralytics last.pt in this checkout (`overrides`: this machine's data and
    run folder), which `YOLO(last).train(resume=True)` continues from the next epoch."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if set(RESUME_KEYS) - set(saved):
        raise ValueError(f"{path} is not a segmenter resume file (keys {sorted(saved)})")
    model, _ = build({**saved, "imgsz": saved["train_args"].get("imgsz", 640)})
    last.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": saved["epoch"], "best_fitness": saved["best_fitness"], "model": model.half(),
                "ema": model.half(), "updates": saved["ema_updates"],
                "optimizer": _cast(saved["optimizer"], torch.float32),
                "train_args": {**saved["train_args"], **overrides}}, last)
    return last

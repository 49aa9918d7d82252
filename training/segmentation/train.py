"""Train and evaluate the segmenter with ultralytics from one config (configs/segmenter.yaml).

Training converts the data first (training/segmentation/dataset.py, the fixed split), then runs ultralytics'
trainer; `last.pt` is written every epoch, so a killed or time-boxed run continues with --resume (ultralytics
restores the epoch, the optimiser and the EMA). A run in progress is a build output (build/train/segmenter):
it is never committed; only trained weights are, in weights/.
Evaluation is ultralytics' validator on the fixed validation split: box and mask mAP50 and mAP50-95, overall
and per class, the same code for any checkpoint (the baseline weights are run through it first).
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import yaml

from fashion.garments.garment_groups import load

RUN_DIR = Path("build/train/segmenter")


@dataclasses.dataclass(frozen=True)
class SegmenterConfig:
    model: str
    imgsz: int
    epochs: int
    batch: int
    patience: int
    seed: int
    groups: Path
    data: dict[str, Any]
    augment: dict[str, Any]
    freeze_backbone_epochs: int = 0  # a pretrained first layer (TimmBackbone) trains from this epoch on
    optimiser: dict[str, Any] = dataclasses.field(default_factory=dict)  # ultralytics' optimizer, lr0, lrf, cos_lr...
    threads: int | None = None  # torch threads while training (None: every core; see use_threads)

    @classmethod
    def read(cls, path: Path) -> "SegmenterConfig":
        raw = yaml.safe_load(Path(path).read_text())
        unknown = set(raw) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
        return cls(**{**raw, "groups": Path(raw["groups"])})


def prepare(cfg: SegmenterConfig, out: Path = RUN_DIR / "data") -> Path:
    """The YOLO-seg dataset for this config; returns its data.yaml."""
    from training.segmentation.dataset import build

    d = cfg.data
    data, _, _ = build(d["source"], Path(d["root"]), out, Path(d["split"]), load(cfg.groups),
                       int(d.get("min_area", 64)), Path(d["coco_json"]) if d.get("coco_json") else None, cfg.seed)
    return data


BACKBONE = "model.0."  # ultralytics' name prefix of the first layer's parameters


def freeze_backbone_until(epochs: int):
    """An ultralytics `on_train_epoch_start` callback: the first layer (the pretrained trunk) frozen, its
    BatchNorm statistics too, for the first `epochs` epochs (counted from 0, so a resumed run agrees)."""

    def callback(trainer) -> None:
        frozen = trainer.epoch < epochs
        names = [n for n in trainer.freeze_layer_names if n != BACKBONE]
        trainer.freeze_layer_names = [*names, BACKBONE] if frozen else names  # _model_train keeps their BN in eval
        for name, p in trainer.model.named_parameters():
            if name.startswith(BACKBONE) and p.dtype.is_floating_point:
                p.requires_grad_(not frozen)
        if trainer.epoch == epochs:
            print(f"epoch {epochs + 1}: the backbone trains from now on")

    return callback


def use_threads(threads: int | None):
    """(the torch threads training runs on: `threads`, or every core when None; an ultralytics
    `on_train_epoch_start` callback that sets them). ultralytics' select_device sets min(8, cores - 1) for CPU
    training (one thread on 2 cores: half the machine stood idle, 2026-12-06), so the callback sets them again
    after it, at every epoch's start."""
    import torch

    n = int(threads or os.cpu_count() or 1)

    def callback(trainer) -> None:
        torch.set_num_threads(n)

    return n, callback


def _model(source: str, cfg: SegmenterConfig):
    from ultralytics import YOLO

    from fashion.nets.segmenter_backbone import register

    register()  # configs may name the pretrained trunk layer
    model = YOLO(source)
    threads, set_threads = use_threads(cfg.threads)
    model.add_callback("on_train_epoch_start", set_threads)
    print(f"training on {threads} threads")
    if cfg.freeze_backbone_epochs:
        model.add_callback("on_train_epoch_start", freeze_backbone_until(cfg.freeze_backbone_epochs))
    return model


def train(cfg: SegmenterConfig, resume: bool = False, run_dir: Path = RUN_DIR, resume_from: Path | None = None) -> Path:
    """Train (or resume) and return the best checkpoint. `resume_from`: a committed plain resume file
    (fashion.nets.segmenter_checkpoint.to_resume), used when this checkout has no run of its own yet."""
    os.environ.setdefault("YOLO_OFFLINE", "true")
    last = run_dir / "run" / "weights" / "last.pt"
    if resume_from is not None and not last.is_file():
        from fashion.nets import segmenter_checkpoint

        data = prepare(cfg, run_dir / "data")
        segmenter_checkpoint.from_resume(resume_from, last, {
            "data": str(data), "project": str(run_dir.resolve()), "name": "run", "save_dir": str(last.parent.parent),
            "model": str(last), "resume": str(last)})
        resume = True
    if resume and last.is_file():
        _set_epochs(last, cfg.epochs)
        _model(str(last), cfg).train(resume=True)
    else:
        data = prepare(cfg, run_dir / "data")
        start = _start(cfg.model, run_dir)
        _model(start, cfg).train(data=str(data), imgsz=cfg.imgsz, epochs=cfg.epochs, batch=cfg.batch,
                              patience=cfg.patience, seed=cfg.seed, deterministic=True, device="cpu",
                              workers=2, project=str(run_dir.resolve()), name="run", exist_ok=True,
                              pretrained=start.endswith(".pt"), amp=False, plots=False, verbose=False, **cfg.optimiser,
                              **cfg.augment)
    return run_dir / "run" / "weights" / "best.pt"


def _start(model: str, run_dir: Path) -> str:
    """What ultralytics starts from: a model YAML or its checkpoint as given; a shipped plain file
    (weights/segmenter.pt, say) wrapped as an ultralytics checkpoint first (a fine-tune)."""
    from fashion.nets import segmenter_checkpoint

    if not (Path(model).is_file() and segmenter_checkpoint.is_plain(Path(model))):
        return model
    run_dir.mkdir(parents=True, exist_ok=True)
    return str(segmenter_checkpoint.to_ultralytics(Path(model), run_dir / "start.pt"))


def _set_epochs(last: Path, epochs: int) -> None:
    """Make a resumed run end at the config's epochs (ultralytics resumes with the checkpoint's own arguments;
    its learning-rate schedule is rebuilt for the new length from the epoch it resumes at)."""
    import torch

    ckpt = torch.load(last, map_location="cpu", weights_only=False)
    done = int(ckpt.get("epoch", -1)) + 1
    if epochs <= done:
        raise ValueError(f"{last}: {done} epochs already done; the config asks for {epochs}")
    if ckpt["train_args"].get("epochs") != epochs:
        print(f"resume: {ckpt['train_args'].get('epochs')} -> {epochs} epochs (config), from epoch {done + 1}")
        ckpt["train_args"]["epochs"] = epochs
        torch.save(ckpt, last)


def markdown(figures: dict[str, Any], title: str) -> str:
    lines = [f"# {title}", "", f"`{figures['weights']}` at {figures['imgsz']} px on the fixed validation split "
             "(`reports/segmenter_split.csv`), ultralytics' validator (`python -m training evaluate-segmenter`).", "",
             f"Overall: mask mAP50 **{figures['mask_map50']:.4f}**, mask mAP50-95 {figures['mask_map50_95']:.4f}, box "
             f"mAP50 {figures['box_map50']:.4f}, box mAP50-95 {figures['box_map50_95']:.4f}.", "",
             "| class | mask mAP50 | mask mAP50-95 | box mAP50 | box mAP50-95 |", "|---|---:|---:|---:|---:|"]
    for name, m in figures["per_class"].items():
        lines.append(f"| {name} | {m['mask_map50']:.4f} | {m['mask_map50_95']:.4f} | {m['box_map50']:.4f} | "
                     f"{m['box_map50_95']:.4f} |")
    return "\n".join(lines + [""])


def evaluate(weights: Path, data: Path, imgsz: int) -> dict[str, Any]:
    """Box and mask mAP50 / mAP50-95, overall and per class, on the data's validation split."""
    os.environ.setdefault("YOLO_OFFLINE", "true")
    from ultralytics import YOLO

    from fashion.nets import segmenter_checkpoint

    shown = weights
    if segmenter_checkpoint.is_plain(Path(weights)):
        raise SystemExit(f"{weights} is the shipped plain format; evaluate the ultralytics checkpoint it came from "
                         "(make ship-segmenter checks the two hold the same weights)")
    model = YOLO(str(weights))
    metrics = model.val(data=str(data), imgsz=imgsz, batch=8, device="cpu", plots=False, verbose=False,
                        split="val", workers=0)
    names = metrics.names
    per_class = {}
    for i, c in enumerate(metrics.ap_class_index):
        per_class[names[int(c)]] = {"box_map50": round(float(metrics.box.ap50[i]), 4),
                                    "box_map50_95": round(float(metrics.box.ap[i]), 4),
                                    "mask_map50": round(float(metrics.seg.ap50[i]), 4),
                                    "mask_map50_95": round(float(metrics.seg.ap[i]), 4)}
    return {"weights": str(shown), "imgsz": imgsz, "data": str(data),
            "box_map50": round(float(metrics.box.map50), 4), "box_map50_95": round(float(metrics.box.map), 4),
            "mask_map50": round(float(metrics.seg.map50), 4), "mask_map50_95": round(float(metrics.seg.map), 4),
            "per_class": per_class}

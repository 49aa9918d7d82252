"""The attribute model's training: weighted multi-head loss, one-cycle schedule; the loop (early stopping, best +
resumable checkpoints) is training.fit's."""
from __future__ import annotations

import dataclasses
import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from fashion.nets.attribute_model import ARCHITECTURE, INPUT_SIZE, MultiHeadClassifier, build, input_spec
from fashion.manifest import InputSpec
from training.catalogue import Problems, Record, read_catalogue
from training.dataset import Augment, batches, cache_pixels, model_input
from training.fit import Run, fit
from training.labels import IGNORE, category_mapping, class_weights, encode, vocabularies
from training.metrics import head_metrics, majority
from training.split import stratified_split, write_split

log = logging.getLogger("training")
BEST, SPLIT = "attributes.pt", "split.csv"


@dataclasses.dataclass(kw_only=True)
class Optimisation:
    """The attribute model's optimisation settings (one_cycle, the label-smoothed loss, training.fit's Run),
    shared by its worn fine-tune (training/worn_train.py); each config states its own epochs, patience and lr."""
    epochs: int
    patience: int  # early stopping: epochs without a better validation score
    lr: float  # the one-cycle schedule's peak learning rate
    batch_size: int = 64
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    seed: int = 0
    resume: bool = False
    stop_after: int | None = None  # epochs to run in this call (then resume later with resume=True)


@dataclasses.dataclass(kw_only=True)
class TrainConfig(Optimisation):
    csv: Path
    images: Path
    out: Path = Path("build/train/attributes")
    architecture: str = ARCHITECTURE
    input_size: int = INPUT_SIZE
    epochs: int = 12
    patience: int = 4
    lr: float = 2e-3
    min_count: int = 20
    limit: int | None = None
    pretrained: str | None = "package"  # ImageNet weights: "package" | "hub" | None (random)
    freeze_backbone: bool = False

    def spec(self) -> InputSpec:
        return input_spec(self.input_size, self.architecture)


@dataclasses.dataclass
class Data:
    records: list[Record]
    pixels: torch.Tensor  # uint8 (N, 3, S, S)
    targets: torch.Tensor  # long (N, heads), IGNORE where missing
    parts: np.ndarray  # "train" | "val" | "test" per row
    heads: dict[str, list[str]]
    mapping: dict[str, dict[str, str]]
    problems: Problems
    split_sha256: str

    def rows(self, part: str) -> torch.Tensor:
        return torch.from_numpy(np.flatnonzero(self.parts == part))


def prepare_data(cfg: TrainConfig) -> Data:
    records, problems = read_catalogue(cfg.csv, cfg.images, cfg.limit)
    log.info("catalogue: %d usable rows; skipped %s", len(records), dict(problems.counts) or "none")
    records, pixels = cache_pixels(records, cfg.spec(), problems, workers=max(1, os.cpu_count() or 1))
    if len(records) < 10:
        raise ValueError(f"only {len(records)} usable rows in {cfg.csv}: too few to train")
    heads = vocabularies(records, cfg.min_count)
    targets = encode(records, heads)
    parts = stratified_split(targets[:, list(heads).index("articleType")].tolist(), cfg.seed)
    sha = write_split(cfg.out / SPLIT, [r.id for r in records], parts)
    return Data(records, pixels, targets, parts, heads, category_mapping(records, heads["articleType"]),
                problems, sha)


def _losses(logits: tuple[torch.Tensor, ...], targets: torch.Tensor, weights: list[torch.Tensor],
            smoothing: float) -> torch.Tensor:
    total = logits[0].new_zeros(())
    for k, (out, w) in enumerate(zip(logits, weights)):
        t = targets[:, k]
        if (t != IGNORE).any():  # a batch without this label adds nothing (mean over zero rows is NaN)
            total = total + F.cross_entropy(out, t, weight=w, ignore_index=IGNORE, label_smoothing=smoothing)
    return total


@torch.inference_mode()
def predict(model: torch.nn.Module, pixels: torch.Tensor, spec: InputSpec, batch_size: int = 128) -> list[torch.Tensor]:
    """Logits per head for uint8 pixels, in eval mode."""
    model.eval()
    outs = [model(model_input(pixels[i:i + batch_size], spec)) for i in range(0, len(pixels), batch_size)]
    return [torch.cat([o[k] for o in outs]) for k in range(len(outs[0]))]


def validation_loss(model, data: Data, rows: torch.Tensor, spec: InputSpec, weights) -> float:
    logits = predict(model, data.pixels[rows], spec)
    return round(float(_losses(tuple(logits), data.targets[rows], weights, 0.0)), 5)


def evaluate(model: torch.nn.Module, data: Data, spec: InputSpec) -> dict[str, Any]:
    """Test-split figures per head (train-split majority as the baseline)."""
    train, test = data.rows("train"), data.rows("test")
    logits = predict(model, data.pixels[test], spec)
    out = {}
    for k, (head, vocab) in enumerate(data.heads.items()):
        true = data.targets[test, k].numpy()
        pred = logits[k].argmax(dim=1).numpy()
        out[head] = head_metrics(true, pred, vocab, majority(data.targets[train, k].numpy(), len(vocab)))
    return out


def one_cycle(params, cfg: Optimisation, train_rows: int, size: tuple[int, int]
              ) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.OneCycleLR, torch.Generator, Augment]:
    """AdamW over `params` with a one-cycle schedule (15 % warm-up) for cfg.epochs epochs of `train_rows` rows,
    the batch order's generator and the augmentation, all seeded from cfg.seed."""
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = math.ceil(train_rows / cfg.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=cfg.epochs * steps + 1,
                                                    pct_start=0.15)
    generator = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)  # augmentation draws from the global generator (a resume restores it)
    return optimizer, scheduler, generator, Augment(size)


def _new_model(cfg: TrainConfig, heads: dict[str, list[str]]) -> MultiHeadClassifier:
    pretrained = cfg.pretrained
    if pretrained == "hub":
        from fashion.nets.provenance import hub_reachable
        if not hub_reachable():
            log.warning("--pretrained hub: the hub is unreachable; training the backbone FROM SCRATCH")
            pretrained = None
    torch.manual_seed(cfg.seed)
    model = build(cfg.architecture, heads, pretrained=pretrained)
    model.pretrained = pretrained
    if cfg.freeze_backbone:
        for p in model.backbone.parameters():
            p.requires_grad_(False)
    return model


def checkpoint(model: MultiHeadClassifier, data: Data, cfg: TrainConfig, extra: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint export reads (loaded with weights_only=True: plain types and tensors only)."""
    return {"architecture": cfg.architecture, "input_size": cfg.input_size, "heads": data.heads,
            "mapping": data.mapping, "min_count": cfg.min_count,
            "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()}, **extra}


class AttributeTrainer:
    """The attribute model's epoch and validation for training.fit: weighted multi-head loss, one-cycle schedule."""

    def __init__(self, cfg: TrainConfig, data: Data) -> None:
        self.cfg, self.data, self.spec = cfg, data, cfg.spec()
        self.model = _new_model(cfg, data.heads)
        self.train_rows, self.val_rows = data.rows("train"), data.rows("val")
        self.weights = [class_weights(data.targets[self.train_rows, k], len(v))
                        for k, v in enumerate(data.heads.values())]
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer, self.scheduler, self.generator, self.augment = one_cycle(params, cfg, len(self.train_rows),
                                                                                 self.spec.size)

    def train_epoch(self, epoch: int) -> dict[str, float]:
        cfg, data = self.cfg, self.data
        self.model.train()
        bar = tqdm(list(batches(len(self.train_rows), cfg.batch_size, True, self.generator)),
                   desc=f"epoch {epoch}/{cfg.epochs}", unit="batch", leave=True)
        running = 0.0
        for n, idx in enumerate(bar, start=1):
            rows = self.train_rows[idx]
            loss = _losses(self.model(model_input(self.augment(data.pixels[rows]), self.spec)), data.targets[rows],
                           self.weights, cfg.label_smoothing)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            running += loss.item()
            bar.set_postfix(loss=f"{running / n:.3f}", lr=f"{self.scheduler.get_last_lr()[0]:.1e}")
        return {"train_loss": round(running / max(1, len(bar)), 5)}

    def validate(self) -> tuple[float, dict[str, float]]:
        val = validation_loss(self.model, self.data, self.val_rows, self.spec, self.weights)
        return val, {"val_loss": val}

    def best_checkpoint(self) -> dict[str, Any]:
        return checkpoint(self.model, self.data, self.cfg, {})


def train(cfg: TrainConfig, data: Data) -> tuple[MultiHeadClassifier, dict[str, Any]]:
    """Train with early stopping on validation loss (training.fit); returns the best epoch's model and the run's
    summary ({"finished": False, "epochs_run": N} when stopped by cfg.stop_after)."""
    trainer = AttributeTrainer(cfg, data)
    model = trainer.model
    progress = fit(trainer, Run(cfg.out, BEST, cfg.epochs, cfg.patience, cfg.resume, cfg.stop_after,
                                split={"split_sha256": data.split_sha256}))
    if not progress.finished:
        return model, {"finished": False, "epochs_run": progress.epoch}
    best = torch.load(cfg.out / BEST, map_location="cpu", weights_only=True)
    model.load_state_dict(best["state_dict"])
    summary = {"finished": True, "architecture": cfg.architecture, "input_size": cfg.input_size,
               "pretrained": model.pretrained,
               "freeze_backbone": cfg.freeze_backbone, "max_epochs": cfg.epochs, "epochs_run": progress.epoch,
               "patience": cfg.patience, "best_epoch": progress.best_epoch,
               "best_val_loss": progress.best, "batch_size": cfg.batch_size, "lr": cfg.lr,
               "weight_decay": cfg.weight_decay, "label_smoothing": cfg.label_smoothing,
               "minutes": round(progress.seconds / 60, 1),
               "device": "cpu", "threads": torch.get_num_threads(), "history": progress.history}
    return model, summary

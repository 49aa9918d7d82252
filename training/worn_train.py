"""`python -m training worn`: the attribute model fine-tuned for worn clothes, from the shipped one.

One backbone (the init checkpoint's, at its input size), the same five heads plus a `scene` head (product |
worn), trained on three kinds of rows together:
- product shots (the shipped model's own split, reports/attributes_split.csv: its test split stays held out):
  every head, and scene "product";
- whole street photos (training/worn.py, the worn split's `train` part): the person's gender, scene "worn";
- their labelled garments' masked crops, cut as served: articleType by a loss over the garment's family (minus
  the log of the probability mass the model puts on the family's members; fashion/worn/worn_families.yaml) and the
  person's gender.
Early stopping and the best epoch on the product validation split plus the worn `calib` part (never on `val`).
Resumable (`--resume`, from OUT/last.pt after every epoch, on the same rows and split only), progress per
epoch: the loop is training.fit's.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from fashion.nets.attribute_model import MultiHeadClassifier, build, checkpoint_spec
from fashion.manifest import InputSpec
from fashion.worn.worn_families import load as load_families
from training.catalogue import read_catalogue
from training.dataset import batches, cache_pixels, model_input
from training.fit import Run, fit
from training.loop import Optimisation, one_cycle, predict
from training.labels import IGNORE, balanced_weights, class_weights, encode
from training.split import read_split, split_sha256
from training.worn import SCENES, WornData, build_worn

log = logging.getLogger("training")
BEST = "attributes.pt"


@dataclasses.dataclass(kw_only=True)
class WornSource:
    """What a worn model starts from (`_model`) and learns from (`load_rows`): the fine-tune's and the head
    refit's (training/worn_heads.py)."""
    csv: Path
    images: Path
    init: Path = Path("weights/attributes.pt")
    product_split: Path = Path("reports/attributes_split.csv")
    limit: int | None = None  # products and street photos each (smoke runs)


@dataclasses.dataclass(kw_only=True)
class WornConfig(WornSource, Optimisation):
    out: Path = Path("build/train/worn")
    epochs: int = 4
    patience: int = 2
    lr: float = 5e-4
    balance_worn_gender: bool = True  # the street rows' gender loss with each gender weighing the same in total


@dataclasses.dataclass
class Rows:
    """Products and worn rows in one index space: products first."""
    pixels: torch.Tensor  # uint8 (N, 3, S, S)
    targets: torch.Tensor  # long (N, heads incl. scene); IGNORE where a row has no label
    families: torch.Tensor  # bool (N, articleTypes): worn garments' families
    parts: np.ndarray  # train | val (products) | calib | val_worn | test ...
    split_sha256: str = ""  # of the rows' ids and parts (a --resume must see the same)

    @property
    def worn(self) -> torch.Tensor:
        """bool (N,): the street rows."""
        return torch.from_numpy(np.array([str(p).startswith("worn_") for p in self.parts]))


def load_rows(cfg: WornSource, heads: dict[str, list[str]], spec: InputSpec) -> tuple[Rows, WornData, int]:
    split = read_split(cfg.product_split)
    records, problems = read_catalogue(cfg.csv, cfg.images)
    records = [r for r in records if r.id in split]
    if cfg.limit:
        records = records[:cfg.limit]
    records, pixels = cache_pixels(records, spec, problems,
                                   workers=max(1, os.cpu_count() or 1))
    product_targets = encode(records, heads)  # in the heads' order (scene: no catalogue label)
    product_targets[:, list(heads).index("scene")] = SCENES.index("product")
    worn = build_worn(spec, load_families(), heads["articleType"], heads["gender"], limit=cfg.limit)
    worn_targets = torch.full((len(worn.kinds), len(heads)), IGNORE, dtype=torch.long)
    gender, scene = list(heads).index("gender"), list(heads).index("scene")
    worn_targets[:, gender] = worn.gender
    is_photo = torch.tensor([k == "photo" for k in worn.kinds])
    worn_targets[is_photo, scene] = SCENES.index("worn")
    parts = np.concatenate([np.array([split[r.id] for r in records], dtype=object),
                            np.array([f"worn_{p}" for p in worn.parts], dtype=object)])
    ids = [r.id for r in records] + [f"street-{s}-{k}" for s, k in zip(worn.stems, worn.kinds)]
    rows = Rows(torch.cat([pixels, worn.pixels]), torch.cat([product_targets, worn_targets]),
                torch.cat([torch.zeros(len(records), len(heads["articleType"]), dtype=torch.bool), worn.families]),
                parts, split_sha256(ids, parts))
    return rows, worn, len(records)


def family_loss(logits: torch.Tensor, families: torch.Tensor) -> torch.Tensor:
    """Mean over rows with a family of -log(sum of the softmax over the family's members)."""
    has = families.any(dim=1)
    if not has.any():
        return logits.new_zeros(())
    chosen = logits[has]
    inside = chosen.masked_fill(~families[has], float("-inf"))
    return (torch.logsumexp(chosen, dim=1) - torch.logsumexp(inside, dim=1)).mean()


@dataclasses.dataclass
class WornGender:
    """The gender loss of the street rows, weighted apart from the products' (most street people are women)."""
    head: int  # the gender head's index
    weights: torch.Tensor  # per gender class: balanced over the street training rows


def _weighted_mean(out: torch.Tensor, t: torch.Tensor, groups: list[tuple[torch.Tensor, torch.Tensor]],
                   smoothing: float) -> torch.Tensor:
    """One weighted cross-entropy mean over rows whose class weights depend on their group (as F.cross_entropy
    with `weight` averages: divided by the labelled rows' total weight)."""
    summed, weight = out.new_zeros(()), out.new_zeros(())
    for rows, w in groups:
        labelled = rows & (t != IGNORE)
        if labelled.any():
            summed = summed + F.cross_entropy(out[labelled], t[labelled], weight=w, reduction="sum",
                                              label_smoothing=smoothing)
            weight = weight + w[t[labelled]].sum()
    return summed / weight.clamp(min=1e-12) if weight > 0 else summed


def losses(logits: tuple[torch.Tensor, ...], targets: torch.Tensor, families: torch.Tensor, weights: list,
           article: int, smoothing: float, worn: torch.Tensor | None = None,
           worn_gender: WornGender | None = None) -> torch.Tensor:
    """Cross-entropy per head plus the family loss; with `worn_gender`, the street rows (`worn`, bool) of the
    gender head use its weights and the product rows keep theirs."""
    total = logits[0].new_zeros(())
    for k, (out, w) in enumerate(zip(logits, weights)):
        t = targets[:, k]
        if worn_gender is not None and k == worn_gender.head and worn is not None:
            total = total + _weighted_mean(out, t, [(~worn, w), (worn, worn_gender.weights)], smoothing)
        elif (t != IGNORE).any():
            total = total + F.cross_entropy(out, t, weight=w, ignore_index=IGNORE, label_smoothing=smoothing)
    return total + family_loss(logits[article], families)


def _model(cfg: WornSource) -> tuple[MultiHeadClassifier, dict[str, list[str]], dict[str, Any]]:
    init = torch.load(cfg.init, map_location="cpu", weights_only=True)
    heads = {**init["heads"], "scene": SCENES}
    model = build(init["architecture"], heads)
    missing, unexpected = model.load_state_dict(init["state_dict"], strict=False)
    if unexpected or any(not m.startswith(f"heads.{len(heads) - 1}.") for m in missing):
        raise ValueError(f"{cfg.init} does not fit the worn model: missing {missing}, unexpected {unexpected}")
    return model, heads, init


def selection_loss(model, rows: Rows, spec: InputSpec, weights, article: int,
                   worn_gender: WornGender | None = None) -> float:
    """The loss that picks the best epoch: product validation rows and the worn calib rows (never worn val),
    weighted as in training."""
    pick = torch.from_numpy(np.flatnonzero((rows.parts == "val") | (rows.parts == "worn_calib")))
    logits = predict(model, rows.pixels[pick], spec)
    return round(float(losses(tuple(logits), rows.targets[pick], rows.families[pick], weights, article, 0.0,
                              rows.worn[pick], worn_gender)), 5)


class WornTrainer:
    """The worn fine-tune's epoch and validation (selection_loss) for training.fit."""

    def __init__(self, cfg: WornConfig) -> None:
        self.cfg = cfg
        self.model, self.heads, self.init = _model(cfg)
        self.spec = checkpoint_spec(self.init)
        self.rows, self.worn, self.n_products = load_rows(cfg, self.heads, self.spec)
        rows, heads = self.rows, self.heads
        self.article = list(heads).index("articleType")
        self.train_rows = torch.from_numpy(np.flatnonzero((rows.parts == "train") | (rows.parts == "worn_train")))
        self.weights = [class_weights(rows.targets[self.train_rows, k], len(v)) for k, v in enumerate(heads.values())]
        self.is_worn = rows.worn
        self.worn_gender = self._worn_gender() if cfg.balance_worn_gender else None
        self.optimizer, self.scheduler, self.generator, self.augment = one_cycle(
            self.model.parameters(), cfg, len(self.train_rows), self.spec.size)

    def _worn_gender(self) -> WornGender:
        head = list(self.heads).index("gender")
        street = self.train_rows[self.is_worn[self.train_rows]]
        worn_gender = WornGender(head, balanced_weights(self.rows.targets[street, head], len(self.heads["gender"])))
        log.info("street rows' gender weights: %s", dict(zip(self.heads["gender"], worn_gender.weights.tolist())))
        return worn_gender

    def train_epoch(self, epoch: int) -> dict[str, float]:
        cfg, rows, running = self.cfg, self.rows, 0.0
        self.model.train()
        bar = tqdm(list(batches(len(self.train_rows), cfg.batch_size, True, self.generator)),
                   desc=f"epoch {epoch}/{cfg.epochs}", unit="batch")
        for n, idx in enumerate(bar, start=1):
            pick = self.train_rows[idx]
            loss = losses(self.model(model_input(self.augment(rows.pixels[pick]), self.spec)), rows.targets[pick],
                          rows.families[pick], self.weights, self.article, cfg.label_smoothing, self.is_worn[pick],
                          self.worn_gender)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.scheduler.step()
            running += loss.item()
            bar.set_postfix(loss=f"{running / n:.3f}")
        return {"train_loss": round(running / max(1, len(bar)), 5)}

    def validate(self) -> tuple[float, dict[str, float]]:
        val = selection_loss(self.model, self.rows, self.spec, self.weights, self.article, self.worn_gender)
        return val, {"selection_loss": val}

    def best_checkpoint(self) -> dict[str, Any]:
        return checkpoint(self.model, self.heads, self.init, {})


def train(cfg: WornConfig) -> tuple[MultiHeadClassifier, dict[str, Any], Rows, WornData, dict[str, list[str]]]:
    """Fine-tune (training.fit: the initial model is epoch 0, the bar to beat); the best epoch's model, the
    summary, the rows, the worn data, the heads."""
    trainer = WornTrainer(cfg)
    model, rows = trainer.model, trainer.rows
    progress = fit(trainer, Run(cfg.out, BEST, cfg.epochs, cfg.patience, cfg.resume, cfg.stop_after,
                                split={"split_sha256": rows.split_sha256}, baseline=True))
    best = torch.load(cfg.out / BEST, map_location="cpu", weights_only=True)
    model.load_state_dict(best["state_dict"])
    summary = {"finished": progress.finished, "init": str(cfg.init), "epochs": cfg.epochs,
               "epochs_run": progress.epoch, "best_epoch": progress.best_epoch,
               "best_selection_loss": progress.best, "lr": cfg.lr,
               "batch_size": cfg.batch_size, "balance_worn_gender": cfg.balance_worn_gender,
               "minutes": round(progress.seconds / 60, 1),
               "rows": {p: int((rows.parts == p).sum()) for p in sorted(set(rows.parts))},
               "products": trainer.n_products, "threads": torch.get_num_threads(), "history": progress.history}
    return model, summary, rows, trainer.worn, trainer.heads


def checkpoint(model: MultiHeadClassifier, heads: dict[str, list[str]], init: dict[str, Any],
               extra: dict[str, Any]) -> dict[str, Any]:
    """The shipped checkpoint's layout (export reads it), with the scene head among the heads."""
    return {"architecture": init["architecture"], "input_size": init["input_size"], "heads": heads,
            "mapping": init["mapping"], "min_count": init.get("min_count", 20),
            "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()}, **extra}

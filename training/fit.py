"""The one training loop every trainer runs: epochs, validation, best + resumable checkpoints, early stopping.

A trainer (training/loop.py: the attribute model, training/contrastive.py: the embedder, training/worn_train.py:
the worn fine-tune) keeps its own model, data and loss and hands `fit` an object with

- `model`, `optimizer`, `scheduler`, `generator` (the batch order's torch.Generator): what `last.pt` keeps;
- `train_epoch(epoch) -> dict`: one epoch's training, its history fields (e.g. {"train_loss": 0.41});
- `validate() -> (score, dict)`: the selection score (lower is better unless `Run.maximize`) and its history
  fields;
- `best_checkpoint() -> dict`: the file written as `Run.best` whenever the score improves (the shipped layout:
  export reads it).

`fit` owns the rest: the epoch loop, one progress line per epoch, `Run.best` and `last.pt` written atomically
(a temporary file, then a rename: an interrupted write never leaves half a checkpoint), resuming from `last.pt`
(model, optimizer, scheduler, batch-order generator, torch's global RNG, epoch, best score, patience counter,
history), the split check on resume (a run resumes only on the data split it started with: `Run.split`), early
stopping (`patience` epochs without a better score) and the `stop_after` time box.

last.pt: {"model", "optimizer", "scheduler", "generator", "torch_rng", "state", **Run.split}; `state` is
`Progress` as a dict. Files written before this loop (state keys best_val_loss / best_score / best, bad) still
resume; a worn last.pt from then carries no split and resumes with a warning that its split was not checked.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from pathlib import Path
from typing import Any, Protocol

import torch

log = logging.getLogger("training")
LAST = "last.pt"
_OLD_STATE_KEYS = {"best_val_loss": "best", "best_score": "best", "bad": "bad_epochs"}  # before training/fit.py
_TORCH_KEYS = ("model", "optimizer", "scheduler", "generator", "torch_rng", "state")


class Trainer(Protocol):
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any  # a torch.optim.lr_scheduler scheduler (state_dict / load_state_dict)
    generator: torch.Generator

    def train_epoch(self, epoch: int) -> dict[str, Any]: ...

    def validate(self) -> tuple[float, dict[str, Any]]: ...

    def best_checkpoint(self) -> dict[str, Any]: ...


class SplitMismatch(ValueError):
    """`--resume` on data split (or set-up) other than the one the run started with."""


@dataclasses.dataclass
class Run:
    out: Path  # Run.best and last.pt go here
    best: str  # the best epoch's file name (attributes.pt, embedder.pt)
    epochs: int
    patience: int  # early stopping: epochs without a better score
    resume: bool = False  # continue from out/last.pt (afresh, with a warning, when there is none)
    stop_after: int | None = None  # run at most this many epochs in this call (then resume)
    split: dict[str, Any] = dataclasses.field(default_factory=dict)  # what a resumed run must match, e.g.
    # {"split_sha256": ...}: stored in last.pt, compared on resume
    maximize: bool = False  # the score is better when higher (the embedder's retrieval score)
    baseline: bool = False  # a fresh run scores the initial model first: epoch 0, the bar to beat (fine-tunes)

    def __post_init__(self) -> None:
        clash = set(self.split) & set(_TORCH_KEYS)
        if clash:
            raise ValueError(f"split keys {sorted(clash)} clash with last.pt's own keys")


@dataclasses.dataclass
class Progress:
    """Where a run stands; saved in last.pt as `state`."""
    epoch: int = 0  # epochs done
    best: float = math.inf  # the best score so far (-inf when maximizing)
    best_epoch: int = 0
    bad_epochs: int = 0  # epochs since the best one
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    seconds: float = 0.0  # training and validation time over all calls
    finished: bool = False  # False when this call stopped at stop_after with epochs left

    @classmethod
    def from_saved(cls, state: dict[str, Any]) -> Progress:
        renamed = {_OLD_STATE_KEYS.get(k, k): v for k, v in state.items()}
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in renamed.items() if k in fields})


def save(obj: Any, path: Path) -> None:
    """torch.save through a temporary file and a rename, so `path` is always a whole checkpoint."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _better(score: float, best: float, maximize: bool) -> bool:
    return score > best if maximize else score < best


def _resume(trainer: Trainer, run: Run, last: Path) -> Progress:
    saved = torch.load(last, map_location="cpu", weights_only=False)  # our own file, written by `fit`
    unchecked = [k for k in run.split if k not in saved]
    if unchecked:
        log.warning("%s predates the split check (no %s): resuming unchecked", last, ", ".join(unchecked))
    differ = {k: (saved[k], v) for k, v in run.split.items() if k in saved and saved[k] != v}
    if differ:
        detail = "; ".join(f"{k}: the run's {a!r}, now {b!r}" for k, (a, b) in differ.items())
        raise SplitMismatch(f"{last} was trained on a different split or set-up ({detail}); "
                            "start afresh without --resume (or with another --out)")
    trainer.model.load_state_dict(saved["model"])
    trainer.optimizer.load_state_dict(saved["optimizer"])
    trainer.scheduler.load_state_dict(saved["scheduler"])
    trainer.generator.set_state(saved["generator"])
    torch.set_rng_state(saved["torch_rng"])  # augmentation draws from the global generator
    progress = Progress.from_saved(saved["state"])
    log.info("resuming after epoch %d (best %.4f at epoch %d)", progress.epoch, progress.best, progress.best_epoch)
    return progress


def _start(trainer: Trainer, run: Run) -> Progress:
    """A fresh run's progress; with `run.baseline`, the initial model scored and saved as the best so far."""
    progress = Progress(best=-math.inf if run.maximize else math.inf)
    if run.baseline:
        progress.best, fields = trainer.validate()
        log.info("epoch 0 (the initial model): %s", _shown(fields))
        save(trainer.best_checkpoint(), run.out / run.best)
    return progress


def _shown(fields: dict[str, Any]) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in fields.items())


def _epoch(trainer: Trainer, run: Run, progress: Progress) -> None:
    """Train and validate one epoch, keep the best, then write last.pt."""
    epoch, started = progress.epoch + 1, time.time()
    fields = trainer.train_epoch(epoch)
    score, val_fields = trainer.validate()
    progress.epoch, progress.seconds = epoch, progress.seconds + time.time() - started
    entry = {"epoch": epoch, **fields, **val_fields, "seconds": round(time.time() - started, 1)}
    progress.history.append(entry)
    if _better(score, progress.best, run.maximize):
        progress.best, progress.best_epoch, progress.bad_epochs = score, epoch, 0
        save(trainer.best_checkpoint(), run.out / run.best)
    else:
        progress.bad_epochs += 1
    log.info("epoch %d/%d: %s%s", epoch, run.epochs, _shown({**fields, **val_fields}),
             " (best)" if progress.best_epoch == epoch else f" (no gain {progress.bad_epochs}/{run.patience})")
    state = {k: v for k, v in dataclasses.asdict(progress).items() if k != "finished"}
    save({"model": trainer.model.state_dict(), "optimizer": trainer.optimizer.state_dict(),
          "scheduler": trainer.scheduler.state_dict(), "generator": trainer.generator.get_state(),
          "torch_rng": torch.get_rng_state(), "state": state, **run.split}, run.out / LAST)


def fit(trainer: Trainer, run: Run) -> Progress:
    """Train until `run.epochs`, early stopping or `run.stop_after` epochs in this call; returns the progress
    (`finished` False when stopped by stop_after). The best epoch's weights are in out/`run.best`, not loaded
    back into `trainer.model`: the trainer reloads them as it ships them."""
    run.out.mkdir(parents=True, exist_ok=True)
    last = run.out / LAST
    if run.resume and not last.is_file():
        log.warning("--resume: no %s yet, starting afresh", last)
    progress = _resume(trainer, run, last) if run.resume and last.is_file() else _start(trainer, run)
    ran = 0
    while progress.epoch < run.epochs and progress.bad_epochs < run.patience:
        if run.stop_after is not None and ran >= run.stop_after:
            return progress
        ran += 1
        _epoch(trainer, run, progress)
    progress.finished = True
    return progress

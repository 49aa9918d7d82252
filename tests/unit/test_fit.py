"""training.fit, the one training loop: resume to the same model, early stopping, the split check, the best
checkpoint, old last.pt files, atomic writes."""
from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest
import torch

from training.fit import LAST, Progress, Run, SplitMismatch, fit, save


class Toy:
    """A linear regression whose batches (the generator) and noise (torch's global RNG) are random, as in the
    real trainers; `scores` overrides the validation score per epoch."""

    def __init__(self, seed: int = 0, scores: list[float] | None = None) -> None:
        torch.manual_seed(seed)
        self.x = torch.randn(64, 3)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5])
        self.model = torch.nn.Linear(3, 1)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.05, momentum=0.9)
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=2, gamma=0.5)
        self.generator = torch.Generator().manual_seed(seed)
        self.scores, self.epochs_trained = scores, []

    def train_epoch(self, epoch: int) -> dict[str, float]:
        self.epochs_trained.append(epoch)
        total = 0.0
        for idx in torch.randperm(64, generator=self.generator).split(16):
            noisy = self.x[idx] + 0.01 * torch.randn(len(idx), 3)
            loss = torch.nn.functional.mse_loss(self.model(noisy)[:, 0], self.y[idx])
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            total += loss.item()
        self.scheduler.step()
        return {"train_loss": round(total / 4, 6)}

    def validate(self) -> tuple[float, dict[str, float]]:
        with torch.no_grad():
            val = float(torch.nn.functional.mse_loss(self.model(self.x)[:, 0], self.y))
        if self.scores is not None:
            val = self.scores[min(len(self.epochs_trained), len(self.scores) - 1)]
        return val, {"val_loss": round(val, 6)}

    def best_checkpoint(self) -> dict:
        return {"state_dict": {k: v.clone() for k, v in self.model.state_dict().items()}, "note": "shipped"}


def _untimed(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in e.items() if k != "seconds"} for e in history]


def test_a_run_stopped_and_resumed_ends_where_one_run_ends(tmp_path):
    whole = fit(Toy(), Run(tmp_path / "a", "best.pt", epochs=5, patience=10))
    assert whole.finished and whole.epoch == 5 and len(whole.history) == 5
    part = fit(Toy(), Run(tmp_path / "b", "best.pt", epochs=5, patience=10, stop_after=2))
    assert not part.finished and part.epoch == 2
    torch.manual_seed(123)  # the RNG state of a new process: last.pt restores the run's
    rest = fit(Toy(), Run(tmp_path / "b", "best.pt", epochs=5, patience=10, resume=True))
    assert rest.finished and _untimed(rest.history) == _untimed(whole.history)
    a, b = (torch.load(tmp_path / d / "best.pt", weights_only=True) for d in "ab")
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert a["note"] == "shipped" and rest.best == whole.best and rest.best_epoch == whole.best_epoch
    assert not list((tmp_path / "b").glob("*.tmp")) and not list((tmp_path / "b").glob(".*.tmp"))


def test_early_stopping_and_the_best_epoch(tmp_path):
    toy = Toy(scores=[9.0, 3.0, 2.0, 2.5, 2.0, 4.0, 1.0])  # after epoch n: scores[n]
    done = fit(toy, Run(tmp_path, "best.pt", epochs=10, patience=3))
    assert done.finished and toy.epochs_trained == [1, 2, 3, 4, 5] and done.best == 2.0 and done.best_epoch == 2
    assert done.bad_epochs == 3 and [e["val_loss"] for e in done.history] == [3.0, 2.0, 2.5, 2.0, 4.0]


def test_maximize_and_the_initial_model_as_the_bar(tmp_path):
    toy = Toy(scores=[0.5, 0.4, 0.6])
    done = fit(toy, Run(tmp_path, "best.pt", epochs=2, patience=5, maximize=True, baseline=True))
    assert done.best == 0.6 and done.best_epoch == 2
    toy = Toy(scores=[0.5, 0.4, 0.45])  # never better than the initial model: epoch 0 stays the best
    done = fit(toy, Run(tmp_path / "b", "best.pt", epochs=2, patience=5, maximize=True, baseline=True))
    assert done.best == 0.5 and done.best_epoch == 0 and (tmp_path / "b" / "best.pt").is_file()


def test_resume_refuses_another_split(tmp_path):
    fit(Toy(), Run(tmp_path, "best.pt", epochs=3, patience=5, stop_after=1, split={"split_sha256": "aaa"}))
    with pytest.raises(SplitMismatch, match="different split.*split_sha256.*'aaa'.*'bbb'.*without --resume"):
        fit(Toy(), Run(tmp_path, "best.pt", epochs=3, patience=5, resume=True, split={"split_sha256": "bbb"}))
    assert issubclass(SplitMismatch, ValueError)
    done = fit(Toy(), Run(tmp_path, "best.pt", epochs=3, patience=5, resume=True, split={"split_sha256": "aaa"}))
    assert done.finished and done.epoch == 3


def test_resume_without_last_starts_afresh(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="training"):
        done = fit(Toy(), Run(tmp_path, "best.pt", epochs=1, patience=5, resume=True))
    assert done.epoch == 1 and "starting afresh" in caplog.text


@pytest.mark.parametrize("old", [{"best_val_loss": 0.5, "bad_epochs": 1},  # training/loop.py's keys
                                 {"best_score": 0.5, "bad_epochs": 1},  # training/contrastive.py's
                                 {"best": 0.5, "bad": 1}])  # training/worn_train.py's (and no split in last.pt)
def test_last_pt_written_before_the_shared_loop_still_resumes(tmp_path, caplog, old):
    toy = Toy()
    fit(toy, Run(tmp_path, "best.pt", epochs=3, patience=5, stop_after=1))
    saved = torch.load(tmp_path / LAST, weights_only=False)
    saved["state"] = {"epoch": 1, "best_epoch": 1, "history": saved["state"]["history"], "seconds": 1.0, **old}
    torch.save(saved, tmp_path / LAST)
    with caplog.at_level(logging.WARNING, logger="training"):
        done = fit(Toy(), Run(tmp_path, "best.pt", epochs=3, patience=5, resume=True, split={"split_sha256": "x"}))
    assert "predates the split check" in caplog.text
    assert done.epoch == 3 and len(done.history) == 3 and done.best <= 0.5


def test_progress_reads_old_state_keys():
    assert Progress.from_saved({"epoch": 2, "best_val_loss": 0.3, "bad_epochs": 1}).best == 0.3
    p = Progress.from_saved({"epoch": 2, "best": 0.3, "bad": 2, "best_epoch": 1, "history": [], "seconds": 0.0})
    assert (p.best, p.bad_epochs, p.best_epoch) == (0.3, 2, 1)
    assert Progress().best == math.inf


def test_save_never_leaves_half_a_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "best.pt"
    save({"a": torch.ones(2)}, path)

    def broken(obj, f):
        Path(f).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError):
        save({"a": torch.zeros(2)}, path)
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.ones(2))


def test_split_keys_may_not_hide_last_pt_keys(tmp_path):
    with pytest.raises(ValueError, match="clash"):
        Run(tmp_path, "best.pt", epochs=1, patience=1, split={"model": "x"})

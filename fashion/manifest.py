"""What export writes beside each artifact: preprocessing, labels, weights provenance. Handlers read it."""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import torch

from fashion.backends import Runner, load_runner

MANIFEST_SUFFIX = ".json"


@dataclasses.dataclass(frozen=True)
class InputSpec:
    size: tuple[int, int]  # (height, width) of the model input
    resize: str  # "letterbox" (YOLO), "shortest_crop" (short side, centre crop) or "squash" (to size, SigLIP)
    interpolation: str  # "bilinear" or "bicubic"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    crop_pct: float = 1.0
    pad_value: int = 114

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "InputSpec":
        return cls(size=tuple(d["size"]), resize=d["resize"], interpolation=d["interpolation"],
                   mean=tuple(d.get("mean", (0, 0, 0))), std=tuple(d.get("std", (1, 1, 1))),
                   crop_pct=float(d.get("crop_pct", 1.0)), pad_value=int(d.get("pad_value", 114)))


@dataclasses.dataclass(frozen=True)
class Manifest:
    name: str  # segmenter | embedder | attributes
    architecture: str
    artifact: str  # file name of the exported model beside the manifest (its backend: settings["backend"])
    input: InputSpec
    weights: dict[str, Any]  # {"source": ..., "random": bool, ...}
    labels: dict[str, Any]  # classes, attribute vocabularies, mappings
    settings: dict[str, Any]  # thresholds, embedding dimension, text tower, ...
    parity: dict[str, Any]  # what the export check measured

    @property
    def backend(self) -> str:
        return str(self.settings.get("backend", "torchscript"))

    @property
    def precision(self) -> str:
        """fp32, fp16 (TorchScript for CUDA), bf16 or int8 (OpenVINO on CPUs): fashion.backends.PRECISIONS."""
        return str(self.settings.get("precision", "fp32"))

    @property
    def fp32_artifact(self) -> str:
        """The unquantised artifact: an int8 model's fp32 IR (what it was quantised from), else the artifact."""
        return str(self.settings.get("fp32_artifact", self.artifact))

    @property
    def random_weights(self) -> bool:
        return bool(self.weights.get("random"))

    def provenance(self) -> dict[str, Any]:
        """The `models` entry of every response (`pretrained`: the packaged weights a trained model started from)."""
        entry = {"name": self.name, "architecture": self.architecture,
                 "weights": self.weights.get("source"), "random_weights": self.random_weights}
        if self.weights.get("pretrained"):
            entry["pretrained"] = list(self.weights["pretrained"])
        return entry

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, directory: str | os.PathLike) -> Path:
        path = Path(directory) / f"{self.name}{MANIFEST_SUFFIX}"
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Manifest":
        d = json.loads(Path(path).read_text())
        return cls(name=d["name"], architecture=d["architecture"], artifact=d["artifact"],
                   input=InputSpec.from_dict(d["input"]), weights=d["weights"], labels=d["labels"],
                   settings=d.get("settings", {}), parity=d.get("parity", {}))


def select_device(gpu: int | None = None, any_gpu: bool = True) -> torch.device:
    """The one device policy (in-process pipelines and TorchServe workers alike). FASHION_DEVICE when set: `cpu`,
    `cuda` (the given GPU, else the first) or `cuda:N`. Otherwise, where CUDA is available: the given GPU
    (TorchServe's gpu_id for a worker), or the first one when `any_gpu` (a worker given no GPU stays on the
    CPU); else the CPU."""
    wanted = os.environ.get("FASHION_DEVICE", "").strip()
    if wanted == "cuda":
        return torch.device(f"cuda:{gpu or 0}")
    if wanted:
        return torch.device(wanted)
    if torch.cuda.is_available() and (gpu is not None or any_gpu):
        return torch.device(f"cuda:{gpu or 0}")
    return torch.device("cpu")


def load_artifact(directory: str | os.PathLike, name: str,
                  device: torch.device | None = None) -> tuple[Runner, Manifest]:
    """Load `<name>.json` and a runner for the artifact it names (its backend) from an export or archive folder."""
    directory = Path(directory)
    manifest_path = directory / f"{name}{MANIFEST_SUFFIX}"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"no {manifest_path.name} in {directory}; build it with `python -m export`")
    manifest = Manifest.load(manifest_path)
    device = device or select_device()
    runner = load_runner(directory / manifest.artifact, manifest.backend, device,
                         precision=manifest.precision)
    return runner, manifest

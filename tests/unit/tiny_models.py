"""Tiny fixed-weight models and an artifact folder shaped exactly like export's, for exact asserts."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fashion.manifest import InputSpec, Manifest
from fashion.stages.zeroshot import save_tables

SEG_SIZE = 64
EMB_SIZE = 32
CLASSES = ["top", "pants"]


class FixedSegmenter(torch.nn.Module):
    """YOLO-seg output layout with ONE confident 'pants' anchor: box centre (32, 40), 20x16 in the input,
    and a mask prototype that is positive on the left half of the input only."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = x.shape[0]
        anchors = 8
        preds = torch.zeros(n, 4 + len(CLASSES) + 1, anchors)
        preds[:, 0:4, 0] = torch.tensor([32.0, 40.0, 20.0, 16.0])
        preds[:, 4 + 1, 0] = 0.9  # class 1 (pants) score
        preds[:, 4 + len(CLASSES), 0] = 1.0  # mask coefficient
        proto = torch.full((n, 1, SEG_SIZE // 4, SEG_SIZE // 4), -1.0)
        proto[:, :, :, : SEG_SIZE // 8] = 1.0
        return preds + 0 * x.mean(), proto + 0 * x.mean()


class MeanColourEmbedder(torch.nn.Module):
    """Embedding = the normalised input's mean colour (3 dims); the pipeline L2-normalises it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


class ColourAttributes(torch.nn.Module):
    """gender logits = [mean R, mean G]; season logits = [mean B, 0.5] (exactly predictable)."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = x.mean(dim=(2, 3))
        return torch.stack([m[:, 0], m[:, 1]], 1), torch.stack([m[:, 2], torch.full_like(m[:, 2], 0.5)], 1)


def _save(module: torch.nn.Module, example: torch.Tensor, manifest: Manifest, directory: Path) -> None:
    torch.jit.trace(module, example, check_trace=False).save(str(directory / manifest.artifact))
    manifest.save(directory)


# zero-shot tables in MeanColourEmbedder's space: a red image embeds to (1, -1, -1) / sqrt(3)
ZERO_SHOT = {"baseColour": {"Red": (1.0, -1.0, -1.0), "Blue": (-1.0, -1.0, 1.0), "Green": (-1.0, 1.0, -1.0)},
             "gender": {"Men": (1.0, 0.0, 0.0), "Women": (0.0, 0.0, 1.0)}}
ZERO_SHOT_MAPPING = {"Red": {"masterCategory": "Colours", "subCategory": "Warm"}}


def _zero_shot_tables(path: Path) -> None:
    save_tables({head: {"labels": list(vocab), "embeddings": np.array(
        [np.array(v) / np.linalg.norm(v) for v in vocab.values()], np.float32)} for head, vocab in ZERO_SHOT.items()},
        path)


def build_artifacts(directory: Path, zero_shot: bool = False) -> Path:
    """zero_shot: the attribute heads count as untrained and the embedder carries zero-shot tables."""
    weights = {"source": "random:test", "random": True}
    _save(FixedSegmenter(), torch.zeros(1, 3, SEG_SIZE, SEG_SIZE), Manifest(
        "segmenter", "fixed", "segmenter.pt", InputSpec((SEG_SIZE, SEG_SIZE), "letterbox", "bilinear"),
        weights, {"classes": CLASSES}, {"num_masks": 1, "min_score": 0.5, "iou": 0.7}, {}), directory)
    _save(MeanColourEmbedder(), torch.zeros(2, 3, EMB_SIZE, EMB_SIZE), Manifest(
        "embedder", "mean-colour", "embedder.pt",
        InputSpec((EMB_SIZE, EMB_SIZE), "shortest_crop", "bicubic", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
        weights, {"mapping": ZERO_SHOT_MAPPING} if zero_shot else {},
        {"embed_dim": 3, "tokenizer": "none", "text_artifact": None, "logit_scale": 10.0,
         "zeroshot_artifact": "embedder_zeroshot.pt" if zero_shot else None}, {}), directory)
    if zero_shot:
        _zero_shot_tables(directory / "embedder_zeroshot.pt")
    _save(ColourAttributes(), torch.zeros(1, 3, EMB_SIZE, EMB_SIZE), Manifest(
        "attributes", "colour", "attributes.pt", InputSpec((EMB_SIZE, EMB_SIZE), "shortest_crop", "bicubic"),
        weights, {"heads": {"gender": ["Men", "Women"], "season": ["Winter", "Summer"]},
                  "mapping": {}}, {"trained_heads": not zero_shot}, {}), directory)
    return directory


def solid_jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (128, 96), fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format=fmt)
    return buf.getvalue()


class FakeContext:
    """The parts of TorchServe's Context the handlers use."""

    def __init__(self, model_dir: Path, model_name: str = "fashion") -> None:
        self.model_name = model_name  # workflow nodes are named fashion__<node>
        self.system_properties = {"model_dir": str(model_dir), "gpu_id": None}
        self.statuses: dict[int, tuple[int, str]] = {}
        self.content_types: dict[int, str] = {}

    def set_response_status(self, code: int, phrase: str, idx: int = 0) -> None:
        self.statuses[idx] = (code, phrase)

    def set_response_content_type(self, idx: int, value: str) -> None:
        self.content_types[idx] = value


class RecordingMetrics:
    """TorchServe's context.metrics, recording what handlers add."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float, dict[str, str]]] = []

    def _add(self, name: str, value: float, dimensions: list) -> None:
        self.calls.append((name, value, {d.name: d.value for d in dimensions}))

    def add_time(self, name, value, idx=None, unit="ms", dimensions=()):
        self._add(name, value, dimensions)

    def add_counter(self, name, value, idx=None, dimensions=()):
        self._add(name, value, dimensions)

    def total(self, name: str, **dims: str) -> float:
        return sum(v for n, v, d in self.calls if n == name and all(d.get(k) == x for k, x in dims.items()))

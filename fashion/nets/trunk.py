"""One image trunk for two models: the attribute model's backbone IS the embedder's image trunk (locked-image
tuning), so while their weights are equal one forward per input feeds both the attribute heads and the
embedder's projection.

Each export records its trunk's digest (`trunk_sha256` in its manifest's settings); the attribute model's graph
also returns the trunk's pooled features, and the embedder archive carries its projection. The embedder stage
projects the attribute stage's features when the two digests agree, and runs its own tower otherwise (its own
endpoint, another trunk, an embedder without the attribute model).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

FEATURES = "trunk_features"  # an image's values: (1 + garments, width) float32, the whole image's first
DIGEST = "trunk_sha256"  # a manifest's settings, and an image's values: which trunk computed the features
PROJECTION_FILE = "embedder_projection.pt"


def digest(trunk: torch.nn.Module) -> str:
    """sha256 over the trunk's tensors (names, shapes, values rounded to fp16, in name order): the embedder's
    checkpoint stores its trunk in fp16, the attribute model's in fp32, and they are equal at fp16 (the served
    graphs compute in fp32 / bf16 either way)."""
    h = hashlib.sha256()
    for name, tensor in sorted(trunk.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(tensor.shape)).encode())
        h.update(tensor.detach().to(torch.float16).contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


class Projection:
    """The embedder's head after the trunk: x @ weight.T (+ bias), then L2-normalised."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray | None = None) -> None:
        self.weight, self.bias = weight.astype(np.float32), None if bias is None else bias.astype(np.float32)

    def __call__(self, features: np.ndarray) -> np.ndarray:
        out = features.astype(np.float32) @ self.weight.T
        if self.bias is not None:
            out = out + self.bias
        return out / np.maximum(np.linalg.norm(out, axis=-1, keepdims=True), 1e-12)

    def save(self, path: Path) -> Path:
        state = {"weight": torch.from_numpy(self.weight)}
        if self.bias is not None:
            state["bias"] = torch.from_numpy(self.bias)
        torch.save(state, path)
        return path

    @classmethod
    def load(cls, path: Path) -> "Projection":
        state = torch.load(path, map_location="cpu", weights_only=True)
        bias = state.get("bias")
        return cls(state["weight"].numpy(), None if bias is None else bias.numpy())

    @classmethod
    def of(cls, head: torch.nn.Module) -> "Projection | None":
        """open_clip's timm tower head: a single Linear ('proj', dropout aside); None for any other head."""
        layers = [m for m in head.modules() if not isinstance(m, (torch.nn.Sequential, torch.nn.Dropout,
                                                                     torch.nn.Identity))]
        if len(layers) != 1 or not isinstance(layers[0], torch.nn.Linear):
            return None
        lin = layers[0]
        bias = None if lin.bias is None else lin.bias.detach().numpy()
        return cls(lin.weight.detach().numpy(), bias)


def shared(attributes: dict, embedder: dict) -> bool:
    """Whether the embedder stage will project the attribute stage's features (manifest settings of both): the
    attribute graph returns them, the embedder archive carries its projection, and the two trunks' digests agree.
    Then the embedder's own work is a matrix product per image."""
    return bool(attributes.get("features") and embedder.get("projection_artifact")
                and attributes.get(DIGEST) and attributes.get(DIGEST) == embedder.get(DIGEST))

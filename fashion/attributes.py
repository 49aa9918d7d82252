"""Product attributes from one multi-head TinyViT: preprocess -> predict -> postprocess."""
from __future__ import annotations

from typing import Any

import torch
from PIL import Image

from fashion.backends import Runner
from fashion.manifest import Manifest
from fashion.metadata import derive
from fashion.preprocess import model_pixels, normalize


class AttributeClassifier:
    def __init__(self, module: Runner, manifest: Manifest, device: torch.device) -> None:
        self.module, self.manifest, self.device = module, manifest, device
        self.heads: dict[str, list[str]] = manifest.labels["heads"]
        self.mapping: dict[str, dict[str, str]] = manifest.labels.get("mapping", {})
        # heads trained by `python -m training` (a checkpoint); else random heads, replaced by zero-shot downstream
        self.trained = bool(manifest.settings.get("trained_heads", not manifest.random_weights))
        self.source = "classifier" if self.trained else "untrained classifier"

    def preprocess(self, images: list[Image.Image]) -> torch.Tensor:
        return self.preprocess_pixels([model_pixels(im, self.manifest.input) for im in images])

    def preprocess_pixels(self, pixels: list[torch.Tensor]) -> torch.Tensor:
        """fashion.preprocess.model_pixels per image (its first row, the whole image) -> the batch."""
        return normalize(torch.stack([p[0] for p in pixels]), self.manifest.input).to(self.device)

    @torch.inference_mode()
    def predict(self, batch: torch.Tensor) -> list[torch.Tensor]:
        """One logits tensor per head, in the manifest's head order."""
        return [t.float() for t in self.module(batch)]

    def postprocess(self, logits: list[torch.Tensor]) -> list[dict[str, Any]]:
        probs = [t.softmax(dim=-1).cpu() for t in logits]
        out = []
        for i in range(probs[0].shape[0]):
            fields = {}
            for (head, vocab), p in zip(self.heads.items(), probs):
                score, idx = p[i].max(dim=0)
                fields[head] = {"label": vocab[int(idx)], "score": round(float(score), 4)}
            out.append({**derive(fields, self.mapping), "source": self.source})
        return out

"""CLIP embeddings of whole images, garment crops (one batch) and texts; all L2-normalised."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fashion.backends import Runner
from fashion.errors import InvalidInput
from fashion.limits import limits
from fashion.manifest import Manifest, load_artifact
from fashion.preprocess import model_pixels, normalize
from fashion.segment import Garment
from fashion.zeroshot import USER_TEMPLATE, ZeroShot

LABEL_CACHE = 128  # user vocabularies whose text embeddings are kept


class Embedder:
    def __init__(self, module: Runner, manifest: Manifest, device: torch.device,
                 text_module: torch.jit.ScriptModule | None = None, zeroshot: ZeroShot | None = None) -> None:
        self.module, self.manifest, self.device, self.text_module = module, manifest, device, text_module
        self.zeroshot = zeroshot
        self.dim = int(manifest.settings["embed_dim"])
        self.logit_scale = float(manifest.settings.get("logit_scale", 100.0))
        self._tokenizer = None
        self._label_vectors: dict[tuple[str, ...], np.ndarray] = {}

    @classmethod
    def load_text_tower(cls, directory: str | Path, manifest: Manifest,
                        device: torch.device) -> torch.jit.ScriptModule | None:
        name = manifest.settings.get("text_artifact")
        if not name or not (Path(directory) / name).is_file():
            return None
        return torch.jit.load(str(Path(directory) / name), map_location=device).eval()

    @classmethod
    def load(cls, directory: str | Path, device: torch.device) -> "Embedder":
        """The image tower, and the text tower and zero-shot tables when the archive has them."""
        module, manifest = load_artifact(directory, "embedder", device)
        emb = cls(module, manifest, device, cls.load_text_tower(directory, manifest, device))
        name = manifest.settings.get("zeroshot_artifact")
        if name and (Path(directory) / name).is_file():
            emb.zeroshot = ZeroShot.load(Path(directory) / name, manifest.labels.get("mapping", {}), emb.logit_scale)
        return emb

    def preprocess(self, images: list[Image.Image],
                   garments: list[list[Garment]] | None = None) -> tuple[torch.Tensor, list[int]]:
        """Whole images and their garment crops in ONE batch; counts says how many crops each image has."""
        return self.preprocess_pixels([model_pixels(im, self.manifest.input, garments[i] if garments else None)
                                       for i, im in enumerate(images)])

    def preprocess_pixels(self, pixels: list[torch.Tensor]) -> tuple[torch.Tensor, list[int]]:
        """fashion.preprocess.model_pixels per image (whole image first, then its crops) -> (batch, counts)."""
        return normalize(torch.cat(pixels), self.manifest.input).to(self.device), [len(p) - 1 for p in pixels]

    @torch.inference_mode()
    def predict(self, batch: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(self.module(batch).float(), dim=-1)

    def postprocess(self, embeddings: torch.Tensor, counts: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Split the batch back: (whole-image embedding, garment embeddings) per image."""
        arr, out, start = embeddings.cpu().numpy(), [], 0
        for n in counts:
            out.append((arr[start], arr[start + 1:start + 1 + n]))
            start += 1 + n
        return out

    def tokenizer(self):
        if self._tokenizer is None:
            from fashion import embedder_model  # lazy: only text requests need open_clip

            self._tokenizer = embedder_model.tokenizer(self.manifest.settings["tokenizer"])
        return self._tokenizer

    @torch.inference_mode()
    def embed_texts(self, texts: list[str]) -> np.ndarray:
        if self.text_module is None:
            raise InvalidInput("this embedder archive has no text tower; export it with text enabled")
        most = limits().max_texts
        if not texts or len(texts) > most or not all(isinstance(t, str) and t.strip() for t in texts):
            raise InvalidInput(f"'text' must be a list of 1 to {most} non-empty strings (MAX_TEXTS)")
        tokens = self.tokenizer()(texts).to(self.device)
        return torch.nn.functional.normalize(self.text_module(tokens).float(), dim=-1).cpu().numpy()

    def label_vectors(self, labels: tuple[str, ...]) -> np.ndarray:
        """Text embeddings of a user vocabulary (USER_TEMPLATE), cached per vocabulary."""
        if self.text_module is None:
            raise InvalidInput("option 'labels' needs the CLIP text tower, and this embedder archive has none; "
                               "export it with text enabled")
        if labels not in self._label_vectors:
            if len(self._label_vectors) >= LABEL_CACHE:
                self._label_vectors.pop(next(iter(self._label_vectors)))
            self._label_vectors[labels] = self.embed_texts([USER_TEMPLATE.format(v) for v in labels])
        return self._label_vectors[labels]

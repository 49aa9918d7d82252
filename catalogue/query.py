"""Query vectors for search: a text (the embedder's text tower), an image (its whole-image embedding), or one
garment of an image (picked by its number in the answer or by the box it best overlaps)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.ops import box_iou

from fashion.errors import InvalidInput

IMAGE_QUERY_OPTIONS = {"include": ["garments", "embedding"], "mask_format": "none"}


def pick_garment(garments: list[dict[str, Any]], number: int | None = None,
                 box: list[float] | None = None) -> dict[str, Any]:
    """The garment asked for: by number, or the one whose box overlaps `box` most (IoU)."""
    if not garments:
        raise InvalidInput("no garment was found in the query image; search by the whole image instead")
    if number is not None:
        if not 0 <= number < len(garments):
            raise InvalidInput(f"garment {number} does not exist; the image has {len(garments)}")
        return garments[number]
    if box is None or len(box) != 4:
        raise InvalidInput("a garment query needs 'garment' (its number) or 'box' ([x0, y0, x1, y1])")
    iou = box_iou(torch.tensor([box], dtype=torch.float32), torch.tensor([g["box"] for g in garments],
                                                                          dtype=torch.float32))[0]
    if float(iou.max()) <= 0:
        raise InvalidInput(f"no garment overlaps the box {box}")
    return garments[int(iou.argmax())]


def embedder_url(url: str) -> str:
    """The embedder model beside an endpoint (…/predictions/fashion -> …/predictions/embedder)."""
    head, sep, _ = url.partition("/predictions/")
    if not sep:
        head, sep, _ = url.partition("/wfpredict/")
    if not sep:
        raise SystemExit(f"cannot tell where the embedder is from {url}; pass --embedder-url")
    return f"{head}/predictions/embedder"


def image_answer(engine: Any, data: bytes) -> dict[str, Any]:
    """The query image's answer (whole-image and garment embeddings, no masks), or its refusal raised."""
    res = engine.answer([data], IMAGE_QUERY_OPTIONS)[0]
    if "error" in res:
        raise InvalidInput(f"the query image was refused: {res['error'].get('message')}")
    return res


class RemoteQueries:
    def __init__(self, url: str, text_url: str | None = None, timeout_s: float = 60.0) -> None:
        from catalogue.engines import RemoteEngine

        self.engine = RemoteEngine(url, timeout_s)
        self.text_url = text_url or embedder_url(url)

    def text(self, text: str) -> np.ndarray:
        r = self.engine.http.post(self.text_url, json={"text": [text]})
        if r.status_code != 200:
            raise SystemExit(f"{self.text_url} answered {r.status_code}: {r.text[:300]}")
        return np.asarray(r.json()["embeddings"][0], np.float32)

    def image(self, data: bytes) -> dict[str, Any]:
        return image_answer(self.engine, data)


class LocalQueries:
    def __init__(self, model_dir: Path) -> None:
        from catalogue.engines import LocalEngine

        self.engine = LocalEngine(model_dir)

    def text(self, text: str) -> np.ndarray:
        return self.engine.pipeline.model("embedder").embed_texts([text])[0]

    def image(self, data: bytes) -> dict[str, Any]:
        return image_answer(self.engine, data)

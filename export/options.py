"""What an export run is told, for every model: one object the CLI builds and each exporter reads its part of."""
from __future__ import annotations

import dataclasses

from fashion.nets.embedder_model import ARCHITECTURE as DEFAULT_CLIP_MODEL


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    weights_dir: str | None = None  # searched for local weights (WEIGHTS_DIR)
    segmenter_weights: str | None = None  # a YOLO-seg checkpoint (default: weights/segmenter.pt, then WEIGHTS_DIR)
    imgsz: int | None = None  # segmenter input size (default: the checkpoint's training size)
    clip_model: str = DEFAULT_CLIP_MODEL
    clip_pretrained: str | None = None
    clip_weights: str | None = None
    text: bool = True  # export the CLIP text tower and zero-shot tables
    attributes_checkpoint: str | None = None

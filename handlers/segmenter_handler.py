"""TorchServe handler: garment instances (label, score, box, mask) from a YOLO-seg archive."""
from __future__ import annotations

import functools

from fashion import pipeline
from fashion.manifest import load_artifact
from fashion.segment import Segmenter
from handlers._adapter import StageHandler


class SegmenterHandler(StageHandler):
    name = "segmenter"

    def load(self, directory, device) -> None:
        self.model = Segmenter(*load_artifact(directory, "segmenter", device), device)
        self.stage = functools.partial(pipeline.segment, self.model)

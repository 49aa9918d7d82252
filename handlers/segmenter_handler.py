"""TorchServe handler: garment instances (label, score, box, mask) from a YOLO-seg archive.

As the workflow's first node it also hands off (fashion.handoff): where that is cheaper, the next models' input
pixels travel on instead of the upload.
"""
from __future__ import annotations

from fashion import pipeline
from fashion.envelope import Envelope
from fashion.handoff import Downstream
from fashion.manifest import load_artifact
from fashion.segment import Segmenter
from handlers._adapter import StageHandler


class SegmenterHandler(StageHandler):
    name = "segmenter"

    def load(self, directory, device) -> None:
        self.model = Segmenter(*load_artifact(directory, "segmenter", device), device)
        self.downstream = Downstream.load(directory) if self.in_workflow else None
        self.stage = self.segment_and_hand_off

    def segment_and_hand_off(self, envs: list[Envelope]) -> None:
        pipeline.segment(self.model, envs)
        if self.downstream is not None:
            pipeline.hand_off(envs, self.downstream)

"""TorchServe handler: the whole pipeline in one process (fashion.mar), same code as the workflow."""
from __future__ import annotations

from fashion import pipeline
from fashion.pipeline import Pipeline
from handlers._adapter import StageHandler


class EnsembleHandler(StageHandler):
    name = "fashion"

    def load(self, directory, device) -> None:
        self.model = Pipeline.load(directory, device)

        def stage(envs) -> None:
            pipeline.segment(self.model.segmenter, envs)
            pipeline.embed(self.model.embedder, envs)
            pipeline.classify(self.model.attributes, envs)

        self.stage = stage

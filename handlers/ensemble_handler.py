"""TorchServe handler: the whole pipeline in one process (fashion.mar), same code as the workflow."""
from __future__ import annotations

from fashion.pipeline import Pipeline
from handlers._adapter import StageHandler


class EnsembleHandler(StageHandler):
    name = "fashion"

    def load(self, directory, device) -> None:
        self.model = Pipeline.load(directory, device)
        self.stage = self.model.stages

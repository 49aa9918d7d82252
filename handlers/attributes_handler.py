"""TorchServe handler: product metadata from the multi-head attribute archive."""
from __future__ import annotations

import functools

from fashion import pipeline
from fashion.attributes import AttributeClassifier
from fashion.manifest import load_artifact
from handlers._adapter import StageHandler


class AttributesHandler(StageHandler):
    name = "attributes"

    def load(self, directory, device) -> None:
        self.model = AttributeClassifier(*load_artifact(directory, "attributes", device), device)
        self.stage = functools.partial(pipeline.classify, self.model)

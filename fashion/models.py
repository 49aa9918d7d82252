"""The model registry: what each served model is, in one table. Export, the archives, the launcher, the
workflow spec, the response contract, the metrics and the benchmarks read it (tests/unit/test_registry.py fails
when config.properties, export/fashion_workflow.yaml or schemas/response.schema.json disagree with it).

Adding a model: its runtime module in fashion/ (a class with preprocess/predict/postprocess, built from
load_artifact), its exporter in export/ (a module with `export_with(out, image, options, backend, precision)`),
its handler in handlers/, one entry here, and then: config.properties' load_models, the workflow's node and dag
edge, the schema's model enum (the registry test lists what is missing).
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import Any


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    name: str  # the archive, TorchServe model and response `models` entry name
    runtime: str  # "module:Class" of the pipeline stage that runs it
    exporter: str  # the export module (export.<name>)
    handler: str  # its TorchServe handler file in handlers/
    section: str  # the response section it produces
    segments: bool = False  # it produces garments (metrics count them on its node)

    def runtime_class(self) -> Any:
        module, _, cls = self.runtime.partition(":")
        return getattr(importlib.import_module(module), cls)

    def exporter_module(self) -> Any:
        return importlib.import_module(self.exporter)


# In workflow order (export/fashion_workflow.yaml's chain) and the order of a response's `models`.
MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("segmenter", "fashion.segment:Segmenter", "export.segmenter", "segmenter_handler.py", "garments",
              segments=True),
    ModelSpec("attributes", "fashion.attributes:AttributeClassifier", "export.attributes", "attributes_handler.py",
              "metadata"),
    ModelSpec("embedder", "fashion.embed:Embedder", "export.embedder", "embedder_handler.py", "embedding"),
)
ENSEMBLE = ModelSpec("fashion", "fashion.pipeline:Pipeline", "export.archive", "ensemble_handler.py", "all",
                     segments=True)  # all three in one worker (fashion.mar); the workflow is fashion.war
WORKFLOW = "fashion"
RESPONSE_ORDER = ("segmenter", "embedder", "attributes")  # the order of a response's `models` entries

NAMES = tuple(m.name for m in MODELS)
BY_NAME = {m.name: m for m in (*MODELS, ENSEMBLE)}
SERVED = (*NAMES, ENSEMBLE.name)  # what config.properties loads at start


def spec(name: str) -> ModelSpec:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no model {name!r}; the registry (fashion/models.py) has {sorted(BY_NAME)}") from None

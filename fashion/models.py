"""The model registry: every served model in one table, and everything else built from it.

Each entry names its stage (fashion.stages.stage: load, run, respond; the typed outputs it reads and writes), its
exporter, its handler, the response sections it writes and those it is run for, and the models whose outputs it
reads (checked: fashion.models.check_contracts). From this table come the pipeline and its
order, the workflow spec and its chain, the archives, the models TorchServe loads, the response (its sections and
their order), the request options' `include`, the response schema, the metrics and the benchmarks.

Adding a model (tests/e2e/test_fourth_model.py does exactly this): its module with a stage class and a SCHEMA
fragment (fashion/stages/<name>.py), its exporter (export/<name>.py, `export_with(out, image, options, backend,
precision)`), and one entry below. A handler file only if the shared one (handlers/model_handler.py) is not enough.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib
from typing import Any


@dataclasses.dataclass(frozen=True)
class Section:
    """A top-level section of a response."""
    name: str
    order: int  # where it sits in a response (image first, then sections by order, then models)
    asked_by: str | None = None  # the option that asks for it (tags: labels); None: named in `include`


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    name: str  # the archive, TorchServe model, workflow node and response `models` entry name
    stage: str  # "module:Class" of its stage (fashion.stages.stage.Stage)
    exporter: str  # its export module: export_with(out, image, options, backend, precision)
    sections: tuple[Section, ...] = ()  # the response sections it writes
    serves: tuple[str, ...] = ()  # it runs when a request's response carries one of these sections
    needs: tuple[str, ...] = ()  # models whose results it reads: they run before it (pipeline, workflow chain)
    crops: bool = False  # it takes the garment crops as well as the whole image (the workflow's hand-off)
    segments: bool = False  # it produces garments (metrics count them on its node)
    precisions: tuple[str, ...] = ("bf16", "int8")  # precisions bench.precision gates besides fp32
    handler: str = "model_handler.py"  # its TorchServe handler file in handlers/

    def stage_class(self) -> Any:
        module, _, cls = self.stage.partition(":")
        return getattr(importlib.import_module(module), cls)

    def exporter_module(self) -> Any:
        return importlib.import_module(self.exporter)


# The registry's models, in the order of a response's `models` entries.
MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("segmenter", "fashion.stages.segment:SegmenterStage", "export.segmenter",
              # a photo of a person's metadata comes from its garments: metadata asks for them too
              sections=(Section("garments", 10),), serves=("garments", "metadata"), segments=True),
    ModelSpec("embedder", "fashion.stages.embed:EmbedderStage", "export.embedder",
              sections=(Section("embedding", 20), Section("tags", 40, "labels"), Section("prompt", 50, "prompt")),
              serves=("embedding", "garments", "tags", "prompt"),
              # garment crops come from the segmenter; it projects the attribute model's trunk features when
              # that trunk is its own (fashion.nets.trunk); untrained attribute heads' metadata is replaced by zero-shot
              needs=("segmenter", "attributes"), crops=True),
    ModelSpec("attributes", "fashion.stages.attributes:AttributesStage", "export.attributes",
              sections=(Section("metadata", 30),), serves=("metadata",), needs=("segmenter",), crops=True),
)
# All models in one worker (fashion.mar), and the workflow of one node per model (fashion.war): one name.
ENSEMBLE = ModelSpec("fashion", "fashion.pipeline:Pipeline", "export.archive", segments=True, precisions=())
WORKFLOW = ENSEMBLE.name
NODE_PREFIX = f"{WORKFLOW}__"  # TorchServe names a workflow's node models <workflow>__<node>
WORKFLOW_ARCHIVE = f"{WORKFLOW}.war"
ENSEMBLE_PATH = f"/predictions/{ENSEMBLE.name}"  # TorchServe's (and the front door's) inference paths
WORKFLOW_PATH = f"/wfpredict/{WORKFLOW}"
ARCHIVE_VERSION = "1.0"  # every archive's model version (export.archive), the one version each model serves

NAMES = tuple(m.name for m in MODELS)
BY_NAME = {m.name: m for m in (*MODELS, ENSEMBLE)}
SERVED = (*NAMES, ENSEMBLE.name)  # the models TorchServe loads at start (the launcher's load_models)


def spec(name: str) -> ModelSpec:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no model {name!r}; the registry (fashion/models.py) has {sorted(BY_NAME)}") from None


def _run_order(models: tuple[ModelSpec, ...]) -> tuple[str, ...]:
    """The models ordered so each runs after those it needs (ties in registry order)."""
    done: list[str] = []
    pending = list(models)
    while pending:
        ready = next((m for m in pending if set(m.needs) <= set(done)), None)
        if ready is None:
            raise ValueError(f"the registry's needs form a cycle or name unknown models: {[m.name for m in pending]}")
        done.append(ready.name)
        pending.remove(ready)
    return tuple(done)


RUN_ORDER = _run_order(MODELS)  # the ensemble's stage order and the workflow's chain of nodes
SECTIONS: tuple[Section, ...] = tuple(sorted((s for m in MODELS for s in m.sections), key=lambda s: s.order))
SECTION_NAMES = tuple(s.name for s in SECTIONS)  # in a response's order
INCLUDABLE = tuple(s.name for s in SECTIONS if s.asked_by is None)  # what the `include` option may name


def _needed(name: str) -> set[str]:
    """The models a model needs, and those they need."""
    out: set[str] = set()
    for need in spec(name).needs:
        out |= {need, *_needed(need)}
    return out


def check_contracts(stages: dict[str, Any]) -> None:
    """Every output a stage reads (its `reads`, fashion.results) is written by a model it needs, so no stage reads
    what nothing before it writes; raises TypeError naming the model, the output and who writes it."""
    for name, stage in stages.items():
        before = _needed(name)
        for kind in stage.reads:
            writers = sorted(n for n, s in stages.items() if kind in s.writes)
            if not set(writers) & before:
                raise TypeError(f"model {name!r} reads {kind.__name__}, which "
                                + (f"only {writers} write; add one of them to its needs in fashion/models.py"
                                   if writers else "no model writes"))


@functools.cache
def stage_classes() -> tuple[Any, ...]:
    """Every model's stage class in run order (imports the model modules), their contracts checked."""
    stages = {name: spec(name).stage_class() for name in RUN_ORDER}
    check_contracts(stages)
    return tuple(stages.values())

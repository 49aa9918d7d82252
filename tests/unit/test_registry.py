"""Everything the registry (fashion/models.py) builds agrees with it: what TorchServe loads, the workflow's chain,
the response contract and its order, the plan, the archives' handlers, the exporters, the backend choice."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from export.archive import workflow_spec
from export.choice import load_choice
from fashion import models as registry
from fashion.request.options import parse_options
from fashion.schema import response_schema
from launcher.torchserve import derive_config, read_config
from tests.conftest import ROOT

MANIFEST = {"architecture": "x", "artifact": "x.pt", "weights": {}, "labels": {},
            "input": {"size": [8, 8], "resize": "squash", "interpolation": "bilinear"}}


def test_torchserve_loads_what_the_registry_serves(tmp_path) -> None:
    config = read_config(derive_config(ROOT / "config.properties", tmp_path / "config.properties", {}))
    loaded = dict(part.split("=") for part in config["load_models"].split(","))
    assert loaded == {name: f"{name}.mar" for name in registry.SERVED}


def test_the_workflow_chains_the_registry_in_run_order() -> None:
    spec = workflow_spec()
    nodes = [k for k, v in spec["models"].items() if isinstance(v, dict)]
    assert nodes == list(registry.RUN_ORDER) == ["segmenter", "attributes", "embedder"]
    assert all(spec["models"][n]["url"] == f"{n}.mar" for n in nodes)
    assert spec["dag"] == {"segmenter": ["attributes"], "attributes": ["embedder"]}
    assert workflow_spec(**{"batch-size": 8})["models"]["batch-size"] == 8


def test_a_near_instant_node_gets_a_short_timeout(tmp_path) -> None:
    """TorchServe 0.12 drops the answer of a node that answers before its promise is set (export.archive): the
    embedder node, when it projects the attribute trunk's features, waits QUICK_NODE_TIMEOUT_MS, not 10 s."""
    from export.archive import QUICK_NODE_BATCH_DELAY_MS, QUICK_NODE_TIMEOUT_MS, WORKFLOW_SETTINGS, quick_nodes
    from fashion.nets.trunk import DIGEST

    def export(attributes: dict, embedder: dict) -> Path:
        out = tmp_path / str(len(list(tmp_path.iterdir())))
        out.mkdir()
        for name, settings in (("attributes", attributes), ("embedder", embedder)):
            (out / f"{name}.json").write_text(json.dumps({**MANIFEST, "name": name, "settings": settings}))
        return out

    shared = export({"features": True, DIGEST: "a"}, {DIGEST: "a", "projection_artifact": "p.pt"})
    assert quick_nodes(shared) == ("embedder",)
    assert quick_nodes(export({"features": True, DIGEST: "a"}, {DIGEST: "b", "projection_artifact": "p.pt"})) == ()
    assert quick_nodes(export({DIGEST: "a"}, {DIGEST: "a", "projection_artifact": "p.pt"})) == ()
    models = workflow_spec(quick_nodes(shared))["models"]
    assert models["embedder"]["timeout-ms"] == QUICK_NODE_TIMEOUT_MS < WORKFLOW_SETTINGS["timeout-ms"]
    assert "timeout-ms" not in models["segmenter"] and "timeout-ms" not in models["attributes"]
    # and it keeps a longer batch delay than the nodes that work (its job waits while its promise is set)
    assert models["embedder"]["max-batch-delay"] == QUICK_NODE_BATCH_DELAY_MS > WORKFLOW_SETTINGS["max-batch-delay"]
    assert "max-batch-delay" not in models["segmenter"]


def test_each_model_runs_after_what_it_needs() -> None:
    for m in registry.MODELS:
        assert all(registry.RUN_ORDER.index(n) < registry.RUN_ORDER.index(m.name) for n in m.needs)
    cyclic = (registry.ModelSpec("a", "x:A", "x", needs=("b",)), registry.ModelSpec("b", "x:B", "x", needs=("a",)))
    with pytest.raises(ValueError, match="cycle"):
        registry._run_order(cyclic)


def test_the_contract_is_composed_from_the_registry() -> None:
    schema = response_schema()
    assert schema["properties"]["models"]["items"]["properties"]["name"]["enum"] == list(registry.NAMES)
    assert set(registry.SECTION_NAMES) <= set(schema["properties"])
    assert schema["required"] == ["image", "garments", "embedding", "metadata", "models"]
    garment = schema["$defs"]["garment"]
    assert garment["required"] == ["label", "score", "box", "area", "colour", "mask", "embedding"]


def test_sections_and_the_plan_come_from_the_registry() -> None:
    assert registry.SECTION_NAMES == ("garments", "embedding", "metadata", "tags", "prompt")
    assert registry.INCLUDABLE == ("garments", "embedding", "metadata")
    plan = parse_options({"include": "garments", "labels": ["red"]}).plan
    assert plan.sections == ("garments", "tags") and plan.runs_models == {"segmenter", "embedder"}


def test_every_entry_resolves() -> None:
    for m in (*registry.MODELS, registry.ENSEMBLE):
        assert (ROOT / "handlers" / m.handler).is_file()
        cls = m.stage_class()
        assert callable(cls.load) and callable(cls.run)
    for m in registry.MODELS:
        assert callable(m.exporter_module().export_with) and m.stage_class().name == m.name
        assert isinstance(m.stage_class().schema, dict)
        assert m.name in load_choice().get("cpu", {}), f"export/backends.json has no backend for {m.name}"
    assert registry.spec("embedder").sections[0].name == "embedding"
    with pytest.raises(KeyError, match="no model"):
        registry.spec("nope")


def test_every_read_is_written_by_a_model_it_needs() -> None:
    """The stages' typed contracts (fashion.results): the registry refuses a stage that reads what no model it
    needs writes, naming who writes it; the shipped stages pass."""
    from typing import ClassVar

    from fashion.results import Embeddings, Garment, Metadata, TrunkFeatures, WearerFace

    stages = dict(zip(registry.RUN_ORDER, registry.stage_classes()))
    assert Garment in stages["segmenter"].writes and WearerFace in stages["attributes"].reads
    assert {Metadata, TrunkFeatures} <= set(stages["embedder"].reads) and Embeddings in stages["embedder"].writes

    class Stray:
        reads: ClassVar[tuple[type, ...]] = (Embeddings,)  # the embedder's; the attribute model does not need it
        writes: ClassVar[tuple[type, ...]] = ()

    with pytest.raises(TypeError, match=r"'attributes' reads Embeddings, which only \['embedder'\] write"):
        registry.check_contracts({**stages, "attributes": Stray})

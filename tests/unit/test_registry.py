"""Everything that names the models agrees with the registry (fashion/models.py): config.properties, the
workflow spec, the response contract, the archive handlers, the exporters, the backend choice."""
from __future__ import annotations

import json

import yaml

from export.archive import HANDLERS, WORKFLOW_SPEC
from export.choice import load_choice
from fashion import models as registry
from launcher.torchserve import SERVED_MODELS
from tests.conftest import ROOT


def test_config_properties_loads_what_the_registry_serves() -> None:
    line = next(x for x in (ROOT / "config.properties").read_text().splitlines() if x.startswith("load_models="))
    loaded = dict(part.split("=") for part in line.removeprefix("load_models=").split(","))
    assert loaded == {name: f"{name}.mar" for name in registry.SERVED} and SERVED_MODELS == list(registry.SERVED)


def test_the_workflow_chains_the_registry_in_its_order() -> None:
    spec = yaml.safe_load(WORKFLOW_SPEC.read_text())
    nodes = [k for k, v in spec["models"].items() if isinstance(v, dict)]
    assert nodes == list(registry.NAMES)
    assert all(spec["models"][n]["url"] == f"{n}.mar" for n in nodes)
    chain = list(zip(registry.NAMES, registry.NAMES[1:]))
    assert spec["dag"] == {a: [b] for a, b in chain}


def test_the_contract_names_the_registry_models() -> None:
    schema = json.loads((ROOT / "schemas" / "response.schema.json").read_text())
    enum = schema["properties"]["models"]["items"]["properties"]["name"]["enum"]
    assert sorted(enum) == sorted(registry.NAMES) == sorted(registry.RESPONSE_ORDER)
    assert {m.section for m in registry.MODELS} <= set(schema["properties"])


def test_every_entry_resolves() -> None:
    choice = load_choice()
    for m in (*registry.MODELS, registry.ENSEMBLE):
        assert HANDLERS[m.name] == m.handler and (ROOT / "handlers" / m.handler).is_file()
        assert callable(getattr(m.runtime_class(), "load", None)) or hasattr(m.runtime_class(), "preprocess")
        assert hasattr(m.exporter_module(), "export" if m is not registry.ENSEMBLE else "build_all")
    for m in registry.MODELS:
        assert m.name in choice.get("cpu", choice), f"export/backends.json has no backend for {m.name}"
    assert registry.spec("embedder").section == "embedding"

"""Adding a model is its module, its exporter and one registry entry (docs/layout.md "Adding a model"): on a copy of the
code, a toy fourth model (tests/e2e/fourth_model: a tiny pattern CNN with random weights) is added by exactly those
three files; then the copy's own commands export it, archive everything and serve it behind the front door, and
the toy answers alone, in the ensemble and in the workflow, inside the composed contract, with its metrics; it
reads the attribute model's garment metadata, declared like any stage's reads (fashion.results)."""
from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Iterator

import httpx
import jsonschema
import pytest
import yaml
from PIL import Image

from launcher import torchserve as ts
from launcher.serve import stop_process_group
from tests.conftest import ROOT

HERE = Path(__file__).parent / "fourth_model"
CODE = ("fashion", "handlers", "export", "launcher", "config.properties")
ADDED = {"fashion/stages/pattern.py": HERE / "pattern_stage.py", "export/pattern.py": HERE / "pattern_export.py"}
ENTRY = ('    ModelSpec("pattern", "fashion.stages.pattern:PatternStage", "export.pattern",\n'
         '              sections=(Section("pattern", 60),), serves=("pattern",), needs=("attributes",), '
         'precisions=()),\n')
ANCHOR = "\n)\n# All models in one worker"


def add_the_model(repo: Path) -> None:
    """What a developer writes: the module, the exporter, the registry entry."""
    for target, source in ADDED.items():
        (repo / target).write_text(source.read_text())
    registry = repo / "fashion" / "models.py"
    text = registry.read_text()
    assert ANCHOR in text, "the registry's MODELS tuple moved: update ANCHOR"
    registry.write_text(text.replace(ANCHOR, "\n" + ENTRY.rstrip("\n") + ANCHOR))


def files(tree: Path) -> dict[str, bytes]:
    out = {}
    for name in CODE:
        paths = [tree / name] if (tree / name).is_file() else (tree / name).rglob("*")
        out.update({str(p.relative_to(tree)): p.read_bytes() for p in paths
                    if p.is_file() and "__pycache__" not in p.parts})
    return out


def photo() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (128, 96), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("fourth_model") / "repo"
    for name in CODE:
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy2)(
            ROOT / name, repo / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                         if (ROOT / name).is_dir() else {}))
    add_the_model(repo)
    return repo


def run(repo: Path, *args: str) -> str:
    # the copy's packages first; the original checkout only for tests.unit.tiny_models
    env = {**os.environ, "PYTHONPATH": f"{repo}{os.pathsep}{ROOT}"}
    done = subprocess.run([sys.executable, *args], cwd=repo, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def served(copy: Path) -> Iterator[dict]:
    run(copy, "-c", "from pathlib import Path; from tests.unit.tiny_models import build_artifacts; "
                    "Path('out').mkdir(); build_artifacts(Path('out'))")  # the three models, tiny and exact
    run(copy, "-m", "export", "models", "--only", "pattern", "--out", "out")
    run(copy, "-m", "export", "archives", "--out", "out", "--store", "store")
    # the copy's own launcher writes the configuration (its registry decides load_models), on spare ports
    urls = json.loads(run(copy, "-c", "import json; from pathlib import Path; from launcher import torchserve as ts; "
                                      "print(json.dumps(ts.spare_config(Path('config.properties'), "
                                      "Path('served.properties'))[1]))"))
    config = copy / "served.properties"
    front = f"http://127.0.0.1:{ts.free_port()}"
    env = {**os.environ, "PYTHONPATH": str(copy), "FASHION_PORT": front.rsplit(":", 1)[1]}
    proc = subprocess.Popen([sys.executable, "-m", "launcher", "serve", "--config", str(config), "--store", "store",
                             "--logs", "logs"], cwd=copy, env=env, stdout=(copy / "serve.log").open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def ready() -> bool:
            assert proc.poll() is None, (copy / "serve.log").read_text()[-3000:]
            try:
                return httpx.get(f"{front}/health", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        ts.wait_until(ready, 900, "the served copy")
        yield {"front": front, "metrics": urls["metrics"], "schema": json.loads(run(copy, "-m", "fashion.schema"))}
    finally:
        stop_process_group(proc, 60)


def test_a_fourth_model_is_three_files(copy: Path) -> None:
    before, after = files(ROOT), files(copy)
    changed = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
    assert changed == {"fashion/models.py", *ADDED}


def test_it_is_exported_and_archived(served: dict, copy: Path) -> None:
    assert json.loads((copy / "out" / "pattern.json").read_text())["weights"]["random"] is True
    assert {p.name for p in (copy / "store").iterdir()} >= {"pattern.mar", "fashion.mar", "fashion.war"}
    with zipfile.ZipFile(copy / "store" / "fashion.war") as war:
        spec = yaml.safe_load(war.read("fashion_workflow.yaml"))
    assert spec["dag"] == {"segmenter": ["attributes"], "attributes": ["embedder"], "embedder": ["pattern"]}


def without_metadata(answer: dict) -> dict:
    """The answer less the photo's and each garment's metadata (the tiny attribute model's heads)."""
    garments = [{k: v for k, v in g.items() if k != "metadata"} for g in answer.get("garments", [])]
    return {**{k: v for k, v in answer.items() if k != "metadata"}, "garments": garments}


def test_served_alone_in_the_ensemble_and_in_the_workflow(served: dict) -> None:
    http, body = httpx.Client(base_url=served["front"], timeout=120), photo()
    alone = http.post("/predictions/pattern", content=body)
    assert alone.status_code == 200, alone.text
    assert alone.json()["pattern"]["label"] in ("solid", "striped", "floral")
    assert [m["name"] for m in alone.json()["models"]] == ["pattern"] and alone.json()["models"][0]["random_weights"]
    ensemble, workflow = http.post("/predictions/fashion", content=body), http.post("/wfpredict/fashion", content=body)
    assert ensemble.status_code == workflow.status_code == 200
    assert ensemble.json() == workflow.json()
    answer = ensemble.json()
    # the tiny attribute model has two heads, not the contract's five: everything else is checked as it is
    schema = {**served["schema"], "required": [k for k in served["schema"]["required"] if k != "metadata"]}
    jsonschema.validate(without_metadata(answer), schema)
    assert list(answer) == ["image", "garments", "embedding", "metadata", "pattern", "models"]
    assert [m["name"] for m in answer["models"]] == ["segmenter", "embedder", "attributes", "pattern"]
    # it read the attribute model's garment metadata (by type, fashion.results.Metadata); alone there is none
    assert answer["pattern"]["worn_by"] == [g["metadata"]["gender"]["label"] for g in answer["garments"]]
    assert "worn_by" not in alone.json()["pattern"]
    assert {k: answer["pattern"][k] for k in ("label", "score")} == alone.json()["pattern"]
    only = http.post("/predictions/fashion", json={"b64": base64.b64encode(body).decode(), "include": ["pattern"]})
    assert list(only.json()) == ["image", "pattern", "models"]
    broken = {**answer, "pattern": {"label": "solid"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(without_metadata(broken), schema)
    description = http.get("/openapi.json").json()
    assert "pattern" in json.dumps(description["paths"])


def test_timed_by_the_metrics(served: dict) -> None:
    deadline, text = time.monotonic() + 60, ""
    while time.monotonic() < deadline:  # the frontend collects backend metrics asynchronously
        text = httpx.get(f"{served['metrics']}/metrics", timeout=10).text
        if "fashion__pattern" in text and re.search(r'FashionStageTime{[^}]*ModelName="pattern"', text):
            break
        time.sleep(1)
    for model in ("pattern", "fashion__pattern"):
        assert re.search(rf'FashionStageTime{{[^}}]*ModelName="{model}"[^}}]*Phase="predict"', text) or \
            re.search(rf'FashionStageTime{{[^}}]*Phase="predict"[^}}]*ModelName="{model}"', text), model

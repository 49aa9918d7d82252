"""Pack exported models into TorchServe archives (.mar) and the workflow into a .war, all from the registry:
one archive per model, the ensemble (every model in one worker) and the workflow (a chain of one node per model
in run order, its spec written here)."""
from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

from fashion.backends import artifact_files
from fashion.request.handoff import HANDOFF_FILE, Downstream
from fashion import models as registry
from fashion.nets import trunk
from fashion.manifest import Manifest

log = logging.getLogger("export")

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("fashion", "handlers")
# How long a worker waits for more requests to fill a batch once it has one. A lone request waits all of it, at
# every workflow node: measured served on 2 cores (bench.ab_served, one client), 1 ms instead of 5 took the
# workflow 93 -> 80 ms p50 and the ensemble 62 -> 59 ms; under load the queue fills batches without waiting.
MAX_BATCH_DELAY_MS = 1
# Used when an archive is loaded on its own (a workflow takes its settings from its spec, WORKFLOW_SETTINGS).
MODEL_CONFIG = {"minWorkers": 1, "maxWorkers": 1, "batchSize": 4, "maxBatchDelay": MAX_BATCH_DELAY_MS,
                "responseTimeout": 120}
# The workflow's settings for every node. Batching in a workflow comes only from its spec, not the .mar configs.
WORKFLOW_SETTINGS = {"min-workers": 1, "max-workers": 1, "batch-size": 4, "max-batch-delay": MAX_BATCH_DELAY_MS,
                     "retry-attempts": 2, "timeout-ms": 10000}
# A node that answers within a few ms loses its answer now and then under concurrency: TorchServe 0.12's
# DagExecutor.invokeModel queues the node's job before it sets the job's response promise, and a job answered in
# between is dropped; the node then waits out its timeout-ms and is retried (a 10.3 s request among 200 at 8
# clients, CI). The embedder node is such a node when it projects the attribute trunk's features (fashion.nets.trunk):
# its timeout is QUICK_NODE_TIMEOUT_MS, so a lost answer costs that, then the retry answers. It also keeps a 5 ms
# batch delay (QUICK_NODE_BATCH_DELAY_MS): its job then waits in the queue while the promise is set, which the
# 1 ms of the other nodes would leave to chance.
QUICK_NODE_TIMEOUT_MS = 500
QUICK_NODE_BATCH_DELAY_MS = 5
WORKFLOW_NOTE = """\
# TorchServe workflow, written by export.archive from the registry (fashion/models.py): a chain of model nodes
# in run order, {chain}. Why this shape: TorchServe 0.12 accepts exactly one start
# node ("DAG should have only one start node"), and under concurrency it loses the response of a node that answers
# almost instantly, which function nodes do (measured: a 5 ms decode-only start node stalled 8 of 400 requests for
# the full timeout-ms); chains of model nodes did not stall. Each node passes an envelope (the upload's bytes or
# the next models' pixels, and the results so far). Node models: {nodes} (scale them with the management API).
"""


def _tool(name: str) -> str:
    exe = Path(sys.executable).with_name(name)
    return str(exe) if exe.exists() else (shutil.which(name) or name)


def _stage(stage: Path, files: list[Path]) -> Path:
    """A folder whose contents become the archive root: our packages plus the model files."""
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, stage / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for f in files:
        shutil.copy2(f, stage / f.name)
    return stage


def _model_files(export_dir: Path, name: str) -> list[Path]:
    """The manifest, then the files it names: its backend's artifact and (embedder) text tower and tables."""
    manifest_path = export_dir / f"{name}.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{manifest_path} is missing: run `python -m export models` first")
    manifest = Manifest.load(manifest_path)
    names = artifact_files(manifest.artifact, manifest.backend)
    names += [manifest.settings[k] for k in ("text_artifact", "zeroshot_artifact", "projection_artifact")
              if manifest.settings.get(k)]
    missing = [n for n in names if not (export_dir / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{name}.json names {missing}, not in {export_dir}: run `python -m export models`")
    return [manifest_path, *(export_dir / n for n in names)]


def build_mar(name: str, files: list[Path], store: Path, build_dir: Path) -> Path:
    stage = _stage(build_dir / f"stage_{name}", files)
    config = build_dir / f"{name}-config.yaml"
    config.write_text(yaml.safe_dump(MODEL_CONFIG))
    store.mkdir(parents=True, exist_ok=True)
    subprocess.run([_tool("torch-model-archiver"), "--model-name", name, "--version", registry.ARCHIVE_VERSION,
                    "--handler", str(ROOT / "handlers" / registry.spec(name).handler), "--extra-files", str(stage),
                    "--config-file", str(config), "--export-path", str(store), "--force"], check=True)
    log.info("built %s", store / f"{name}.mar")
    return store / f"{name}.mar"


def quick_nodes(export_dir: Path) -> tuple[str, ...]:
    """The nodes whose work is near-instant with the models in `export_dir`: the embedder when it projects the
    attribute model's trunk features."""
    if not all((Path(export_dir) / f"{n}.json").is_file() for n in ("attributes", "embedder")):
        return ()
    attributes, embedder = (Manifest.load(Path(export_dir) / f"{n}.json").settings for n in ("attributes", "embedder"))
    return ("embedder",) if trunk.shared(attributes, embedder) else ()


def workflow_spec(quick: tuple[str, ...] = (), **settings: int) -> dict:
    """The workflow: a node per registry model (its archive), chained in run order; `settings` override
    WORKFLOW_SETTINGS for every node (bench.served sweeps the batch size), and the `quick` nodes (quick_nodes)
    time out after QUICK_NODE_TIMEOUT_MS and wait QUICK_NODE_BATCH_DELAY_MS for a batch."""
    chain = registry.RUN_ORDER
    models: dict = {**WORKFLOW_SETTINGS, **settings}
    quick_settings = {"timeout-ms": QUICK_NODE_TIMEOUT_MS, "max-batch-delay": QUICK_NODE_BATCH_DELAY_MS}
    models.update({name: {"url": f"{name}.mar", **(quick_settings if name in quick else {})} for name in chain})
    return {"models": models, "dag": {a: [b] for a, b in zip(chain, chain[1:])}}


def write_workflow_spec(path: Path, quick: tuple[str, ...] = (), **settings: int) -> Path:
    chain = registry.RUN_ORDER
    note = WORKFLOW_NOTE.format(chain=" -> ".join(("request", *chain)),
                                nodes=", ".join(registry.NODE_PREFIX + n for n in chain))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(note + yaml.safe_dump(workflow_spec(quick, **settings), sort_keys=False))
    return path


def build_war(store: Path, build_dir: Path, quick: tuple[str, ...] = (), **settings: int) -> Path:
    """The workflow has model nodes only, so the .war is just its spec (the models come from the .mars)."""
    name = registry.WORKFLOW
    spec = write_workflow_spec(build_dir / f"{name}_workflow.yaml", quick, **settings)
    subprocess.run([_tool("torch-workflow-archiver"), "--workflow-name", name,
                    "--spec-file", str(spec), "--handler", str(ROOT / "handlers" / "workflow_handler.py"),
                    "--export-path", str(store), "--force"], check=True)
    log.info("built %s", store / f"{name}.war")
    return store / f"{name}.war"


def war_spec(war: Path) -> dict:
    """The workflow spec inside a built .war."""
    with zipfile.ZipFile(war) as z:
        return yaml.safe_load(z.read(next(n for n in z.namelist() if n.endswith((".yaml", ".yml")))))


def spec_quick_nodes(spec: dict) -> tuple[str, ...]:
    """The nodes a workflow spec gives their own timeout (quick_nodes when it was built)."""
    return tuple(n for n in registry.RUN_ORDER if "timeout-ms" in spec["models"].get(n, {}))


def handoff_file(export_dir: Path) -> Path:
    """The later nodes' input specs for the workflow's first node (fashion.request.handoff), from their manifests."""
    specs = {n: Manifest.load(export_dir / f"{n}.json").input for n in registry.RUN_ORDER[1:]}
    return Downstream.of(specs).save(export_dir / HANDOFF_FILE)


def build_all(export_dir: Path, store: Path, build_dir: Path) -> list[Path]:
    extra = {registry.RUN_ORDER[0]: [handoff_file(export_dir)]}
    built = [build_mar(n, _model_files(export_dir, n) + extra.get(n, []), store, build_dir) for n in registry.NAMES]
    ensemble = [f for n in registry.NAMES for f in _model_files(export_dir, n)]
    built.append(build_mar(registry.ENSEMBLE.name, ensemble, store, build_dir))
    built.append(build_war(store, build_dir, quick_nodes(export_dir)))
    return built

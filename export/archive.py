"""Pack exported models into TorchServe archives (.mar) and the workflow into a .war."""
from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from export.choice import MODELS
from fashion.backends import artifact_files
from fashion.handoff import HANDOFF_FILE, Downstream
from fashion import models as registry
from fashion.manifest import Manifest

log = logging.getLogger("export")

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("fashion", "handlers")
HANDLERS = {m.name: m.handler for m in (*registry.MODELS, registry.ENSEMBLE)}
# Used when an archive is loaded on its own (a workflow takes its settings from fashion_workflow.yaml).
MODEL_CONFIG = {"minWorkers": 1, "maxWorkers": 1, "batchSize": 4, "maxBatchDelay": 5, "responseTimeout": 120}
WORKFLOW_SPEC = Path(__file__).with_name("fashion_workflow.yaml")


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
    names += [manifest.settings[k] for k in ("text_artifact", "zeroshot_artifact") if manifest.settings.get(k)]
    missing = [n for n in names if not (export_dir / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{name}.json names {missing}, not in {export_dir}: run `python -m export models`")
    return [manifest_path, *(export_dir / n for n in names)]


def build_mar(name: str, files: list[Path], store: Path, build_dir: Path) -> Path:
    stage = _stage(build_dir / f"stage_{name}", files)
    config = build_dir / f"{name}-config.yaml"
    config.write_text(yaml.safe_dump(MODEL_CONFIG))
    store.mkdir(parents=True, exist_ok=True)
    subprocess.run([_tool("torch-model-archiver"), "--model-name", name, "--version", "1.0",
                    "--handler", str(ROOT / "handlers" / HANDLERS[name]), "--extra-files", str(stage),
                    "--config-file", str(config), "--export-path", str(store), "--force"], check=True)
    log.info("built %s", store / f"{name}.mar")
    return store / f"{name}.mar"


def build_war(store: Path, spec: Path = WORKFLOW_SPEC) -> Path:
    """The workflow has model nodes only, so the .war is just its spec (the models come from the .mars)."""
    subprocess.run([_tool("torch-workflow-archiver"), "--workflow-name", "fashion",
                    "--spec-file", str(spec), "--handler", str(ROOT / "handlers" / "workflow_handler.py"),
                    "--export-path", str(store), "--force"], check=True)
    log.info("built %s", store / "fashion.war")
    return store / "fashion.war"


def handoff_file(export_dir: Path) -> Path:
    """The next models' input specs for the workflow's segmenter node (fashion.handoff), from their manifests."""
    specs = {n: Manifest.load(export_dir / f"{n}.json").input for n in MODELS if n != "segmenter"}
    return Downstream.of(specs).save(export_dir / HANDOFF_FILE)


def build_all(export_dir: Path, store: Path, build_dir: Path) -> list[Path]:
    extra = {"segmenter": [handoff_file(export_dir)]}
    built = [build_mar(n, _model_files(export_dir, n) + extra.get(n, []), store, build_dir) for n in MODELS]
    ensemble = [f for n in MODELS for f in _model_files(export_dir, n)]
    built.append(build_mar("fashion", ensemble, store, build_dir))
    built.append(build_war(store))
    return built

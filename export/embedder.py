"""Export an open_clip model: the image tower for its backend, the text tower to TorchScript."""
from __future__ import annotations

import copy
import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from export._trace import ExportCheckFailed, convert_check_save, write_manifest
from export._weights import WeightsSource, find_local, warn_random
from fashion.nets.provenance import hub_reachable
from export.options import ExportOptions
from fashion.nets import embedder_model
from fashion.backends import Runner
from fashion.manifest import Manifest
from fashion.nets.trunk import DIGEST, PROJECTION_FILE, Projection, digest
from fashion.stages.embed import Embedder
from fashion.stages.zeroshot import label_tables, save_tables
from fashion.nets.pretrained import started_from

log = logging.getLogger("export")

DEFAULT_MODEL = embedder_model.ARCHITECTURE  # trained here (weights/embedder.pt); hub models are one flag away
HUB_DEFAULT_TAGS = {"ViT-B-32": "laion2b_s34b_b79k"}  # --clip-model X without --clip-pretrained
MIN_COSINE = 0.999
ZEROSHOT_FILE = "embedder_zeroshot.pt"


def save_label_tables(model: torch.nn.Module, tokenizer, vocabulary: dict, path: Path) -> None:
    """Text embeddings of every attribute label's prompts (fashion.stages.zeroshot), for zero-shot metadata."""
    def embed_texts(texts: list[str]) -> np.ndarray:
        with torch.no_grad():
            return torch.nn.functional.normalize(model.encode_text(tokenizer(texts)), dim=-1).numpy()

    tables = label_tables(embed_texts, vocabulary["heads"])
    save_tables(tables, path)
    log.info("%s: zero-shot tables for %s", path.name, {h: len(t["labels"]) for h, t in tables.items()})


class TextTower(torch.nn.Module):
    """encode_text alone: a copy of the CLIP model without its image tower, so the trace stays small."""

    def __init__(self, clip: torch.nn.Module) -> None:
        super().__init__()
        self.clip = copy.deepcopy(clip)
        self.clip.visual = torch.nn.Identity()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.clip.encode_text(tokens)


def save_projection(model: torch.nn.Module, out_dir: Path) -> dict[str, str]:
    """A timm tower's trunk digest and linear projection (fashion.nets.trunk), so the pipeline can project the
    attribute model's trunk features when that trunk is this one; {} for towers without that shape."""
    trunk, head = getattr(model.visual, "trunk", None), getattr(model.visual, "head", None)
    projection = Projection.of(head) if trunk is not None and head is not None else None
    if projection is None:
        return {}
    projection.save(out_dir / PROJECTION_FILE)
    return {DIGEST: digest(trunk), "projection_artifact": PROJECTION_FILE}


def architecture_name(model_name: str) -> str:
    """What the `models` entry calls it: the hub id, a local folder's name, or the open_clip name."""
    if model_name.startswith("local-dir:"):
        return Path(model_name.removeprefix("local-dir:")).name
    return model_name.removeprefix("hf-hub:")


def resolve(model_name: str, pretrained: str | None, weights: str | None, weights_dir: str | None) -> WeightsSource:
    """Our own architectures: EMBEDDER_CHECKPOINT, then embedder*.pt in WEIGHTS_DIR and weights/ (trained by
    `make train-embedder`). Hub models: a local file named after them, else the hub when online. Else random."""
    if embedder_model.is_ours(model_name):
        local = find_local(weights or os.environ.get("EMBEDDER_CHECKPOINT") or None, weights_dir,
                           (embedder_model.SHIPPED_PATTERN,))
        if local is not None:
            trained_as = torch.load(local, map_location="cpu", weights_only=True).get("architecture", model_name)
            if trained_as != model_name:
                raise ValueError(f"{local} holds a {trained_as} embedder, not {model_name}: pass --clip-model "
                                 f"{trained_as} or another --clip-weights")
            return WeightsSource("local", local.name, local)
        warn_random("embedder", model_name)
        return WeightsSource("random", model_name)
    if model_name.startswith("local-dir:"):  # a downloaded hub snapshot: open_clip_config.json (+ weights)
        folder = Path(model_name.removeprefix("local-dir:"))
        found = [p for ext in ("*.safetensors", "*.bin", "*.pth") for p in sorted(folder.glob(ext))]
        if found:
            return WeightsSource("local", f"{folder.name}/{found[0].name}", found[0])
        warn_random("embedder", model_name)
        return WeightsSource("random", folder.name)
    local = find_local(weights, weights_dir, (f"{model_name}*.pt", f"{model_name}*.bin", "open_clip*.bin"))
    if local:
        return WeightsSource("local", local.name, local)
    if (pretrained or model_name.startswith("hf-hub:")) and hub_reachable():
        return WeightsSource("hub", f"{model_name}:{pretrained or ''}")
    warn_random("embedder", model_name)
    return WeightsSource("random", model_name)


def export_text_tower(model: torch.nn.Module, tokenizer: Any, out_dir: Path) -> dict:
    """The text tower traced to TorchScript (embedder_text.pt), checked against open_clip's eager encode_text."""
    def check_text(traced: Runner) -> dict:
        probe = tokenizer(["black leather jacket"])
        with torch.no_grad():
            a = torch.nn.functional.normalize(traced(probe), dim=-1)
            b = torch.nn.functional.normalize(model.encode_text(probe), dim=-1)
        cosine = float((a * b).sum())
        if cosine < MIN_COSINE:
            raise ExportCheckFailed(f"embedder text tower: cosine {cosine:.5f} < {MIN_COSINE}")
        return {"text_cosine": round(cosine, 6)}

    tokens = tokenizer(["a photo of a red dress", "navy blue shirt"])
    return convert_check_save(TextTower(model), tokens, out_dir, "embedder_text", check_text)[1]


def export(out_dir: Path, check_image: Image.Image, model_name: str = DEFAULT_MODEL,
           pretrained: str | None = None, weights: str | None = None,
           weights_dir: str | None = None, text: bool = True, vocabulary: dict | None = None,
           backend: str = "torchscript", precision: str = "fp32") -> Manifest:
    """vocabulary ({"heads", "mapping"}, the attribute model's): zero-shot label tables are stored for it."""
    pretrained = pretrained or HUB_DEFAULT_TAGS.get(model_name)
    source = resolve(model_name, pretrained, weights, weights_dir)
    if source.random and model_name.startswith("hf-hub:"):
        raise ValueError(f"{model_name} needs the hub, which is unreachable: download it elsewhere and pass "
                         f"--clip-model local-dir:FOLDER (its open_clip_config.json and weights), or use the default")
    torch.manual_seed(0)
    tag = str(source.path) if source.kind == "local" else (pretrained if source.kind == "hub" else None)
    if model_name.startswith("local-dir:"):
        tag = None  # open_clip reads the folder's own weights
    model, reference_preprocess = embedder_model.create(model_name, pretrained=tag)
    spec = embedder_model.input_spec(model)
    embed_dim = embedder_model.embedding_dim(model)
    manifest = Manifest(
        name="embedder", architecture=architecture_name(model_name), artifact="embedder.pt", input=spec,
        weights=source.describe(started_from(model) + embedder_model.text_started_from(model_name)), labels={},
        settings={"embed_dim": embed_dim, "tokenizer": model_name,
                  "context_length": int(embedder_model.config(model_name).get("text_cfg", {}).get(
                      "context_length", model.context_length)),
                  "text_artifact": "embedder_text.pt" if text else None,
                  "logit_scale": round(float(model.logit_scale.detach().exp()), 4),
                  "zeroshot_artifact": ZEROSHOT_FILE if text and vocabulary else None,
                  "backend": backend, "precision": precision}, parity={})

    def check_image_tower(traced: Runner) -> dict:
        ours = Embedder(traced, manifest, torch.device("cpu"))
        got = ours.predict(ours.preprocess([check_image])[0])[0]
        with torch.no_grad():  # the reference: open_clip's own preprocessing and eager model
            ref = torch.nn.functional.normalize(model.encode_image(reference_preprocess(check_image)[None]), dim=-1)[0]
        cosine = float(got @ ref)
        if cosine < MIN_COSINE:
            raise ExportCheckFailed(f"embedder: cosine to open_clip's eager embedding {cosine:.5f} < {MIN_COSINE}")
        return {"cosine_vs_open_clip": round(cosine, 6)}

    example = torch.zeros(2, 3, *spec.size)
    artifact, figures = convert_check_save(model.visual, example, out_dir, "embedder", check_image_tower,
                                           backend, precision)
    manifest = dataclasses.replace(manifest, artifact=artifact,
                                   settings={**manifest.settings, **save_projection(model, out_dir)})
    if text:
        tokenizer = embedder_model.tokenizer(model_name)
        figures |= export_text_tower(model, tokenizer, out_dir)
        if vocabulary:
            save_label_tables(model, tokenizer, vocabulary, out_dir / ZEROSHOT_FILE)
            manifest = dataclasses.replace(manifest, labels={"zeroshot_heads": vocabulary["heads"],
                                                             "mapping": vocabulary.get("mapping", {})})
    manifest = dataclasses.replace(manifest, parity=figures)
    write_manifest(manifest, out_dir)
    return manifest


def export_with(out_dir: Path, check_image: Image.Image, options: ExportOptions, backend: str = "torchscript",
                precision: str = "fp32") -> Manifest:
    """export() with its part of an export run's options (the registry's entry point for every exporter)."""
    from export.attributes import vocabulary_for

    return export(out_dir, check_image, options.clip_model, options.clip_pretrained, options.clip_weights,
                  options.weights_dir, text=options.text,
                  vocabulary=vocabulary_for(options.attributes_checkpoint, options.weights_dir),
                  backend=backend, precision=precision)

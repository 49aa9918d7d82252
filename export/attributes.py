"""Export the attribute classifier (a timm backbone + heads) with its vocabularies and category mapping."""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from export import vocabulary
from export._trace import ExportCheckFailed, convert_check_save, write_manifest
from export.options import ExportOptions
from export._weights import WeightsSource, find_local, warn_random
from fashion.nets.provenance import hub_reachable
from fashion.nets.attribute_model import ARCHITECTURE, WithFeatures, build, input_spec
from fashion.stages.attributes import AttributeClassifier
from fashion.backends import Runner
from fashion.manifest import InputSpec, Manifest
from fashion.nets.trunk import DIGEST, digest
from fashion.nets.pretrained import started_from

log = logging.getLogger("export")

DEFAULT_ARCH = ARCHITECTURE  # without a checkpoint (a checkpoint names its own)
FEATURES_MIN_COSINE = 0.99  # the trunk features the embedder projects (bf16 reaches ~0.999)


def load_model(checkpoint: Path | None, architecture: str) -> tuple[torch.nn.Module, dict[str, Any], WeightsSource]:
    """A trained checkpoint (backbone + heads + vocabularies) when given; else hub or random backbone."""
    if checkpoint is not None:
        ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
        labels = {"heads": ckpt["heads"], "mapping": ckpt.get("mapping", {})}
        model = build(ckpt.get("architecture", architecture), labels["heads"])
        model.load_state_dict(ckpt["state_dict"])
        extra = {k: ckpt[k] for k in ("report", "input_size", "architecture") if k in ckpt}
        return model, labels | extra, WeightsSource("local", checkpoint.name, checkpoint)
    labels = vocabulary_for(None, None)
    torch.manual_seed(0)
    if hub_reachable():
        log.warning("attributes: ImageNet backbone from the hub, but the heads are UNTRAINED "
                    "(train them with `make train-attributes`)")
        return build(architecture, labels["heads"], pretrained="hub"), labels, \
            WeightsSource("random", f"heads; backbone hub:timm/{architecture}")
    warn_random("attributes", architecture)
    return build(architecture, labels["heads"]), labels, WeightsSource("random", architecture)


def vocabulary_for(checkpoint: str | None, weights_dir: str | None) -> dict[str, Any]:
    """{"heads", "mapping"} the attribute archive will carry (a trained checkpoint's, else the default)."""
    local = find_local(checkpoint, weights_dir, ("attributes*.pt",))
    if local is not None:
        ckpt = torch.load(local, map_location="cpu", weights_only=True)
        return {"heads": ckpt["heads"], "mapping": ckpt.get("mapping", {})}
    default = vocabulary.load_default()
    return {"heads": default["heads"], "mapping": default["mapping"]}


def export(out_dir: Path, check_image: Image.Image, checkpoint: str | None = None,
           weights_dir: str | None = None, architecture: str = DEFAULT_ARCH, backend: str = "torchscript",
           precision: str = "fp32") -> Manifest:
    import timm.data

    local = find_local(checkpoint, weights_dir, ("attributes*.pt",))
    model, labels, source = load_model(local, architecture)
    model.eval()
    architecture = labels.pop("architecture", architecture)
    if "input_size" in labels:  # trained by `python -m training`: serve with the transform it trained with
        spec = input_spec(int(labels.pop("input_size")), architecture)
    else:
        cfg = timm.data.resolve_data_config({}, model=model.backbone)
        spec = InputSpec(size=tuple(cfg["input_size"][1:]), resize="shortest_crop",
                         interpolation=cfg["interpolation"], mean=tuple(cfg["mean"]), std=tuple(cfg["std"]),
                         crop_pct=float(cfg.get("crop_pct", 1.0)))
    manifest = Manifest(
        name="attributes", architecture=architecture, artifact="attributes.pt", input=spec,
        weights=source.describe(started_from(model)), labels=labels,
        settings={"head_order": model.head_names, "trained_heads": source.kind == "local",
                  "features": True, DIGEST: digest(model.backbone),
                  "backend": backend, "precision": precision}, parity={})
    graph = WithFeatures(model).eval()

    def check(traced: Runner) -> dict:
        dev = torch.device("cpu")
        ours, ref = AttributeClassifier(traced, manifest, dev), AttributeClassifier(graph, manifest, dev)
        batch = ours.preprocess([check_image])
        (got, got_features), (want, want_features) = ours.predict(batch), ref.predict(batch)
        ours.postprocess(got)  # the served metadata builds from the exported graph's outputs
        diff = [h for h, x, y in zip(model.head_names, got, want) if not torch.equal(x.argmax(-1), y.argmax(-1))]
        if diff:
            raise ExportCheckFailed(f"attributes: {backend} top-1 differs from eager for {diff}")
        prob_diff = max(float((x.softmax(-1) - y.softmax(-1)).abs().max()) for x, y in zip(got, want))
        cosine = float(torch.nn.functional.cosine_similarity(got_features, want_features).min())
        if cosine < FEATURES_MIN_COSINE:
            raise ExportCheckFailed(f"attributes: {backend} trunk features' cosine to eager {cosine:.5f} < "
                                    f"{FEATURES_MIN_COSINE}")
        return {"same_top1": True, "heads": len(model.head_names), "max_prob_diff": round(prob_diff, 6),
                "features_cosine": round(cosine, 6)}

    artifact, figures = convert_check_save(graph, torch.zeros(1, 3, *manifest.input.size), out_dir, "attributes",
                                           check, backend, precision)
    manifest = dataclasses.replace(manifest, artifact=artifact, parity=figures)
    write_manifest(manifest, out_dir)
    return manifest


def export_with(out_dir: Path, check_image: Image.Image, options: ExportOptions, backend: str = "torchscript",
                precision: str = "fp32") -> Manifest:
    """export() with its part of an export run's options (the registry's entry point for every exporter)."""
    return export(out_dir, check_image, options.attributes_checkpoint, options.weights_dir, backend=backend,
                  precision=precision)

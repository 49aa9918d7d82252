"""The project's own open_clip architectures (fashion/nets/clip_models/*.json), shared by training, export and serving.

`register()` adds them to open_clip's model registry, so `open_clip.create_model_and_transforms(name)` and
`open_clip.get_tokenizer(name)` treat them like any built-in model. Built-in open_clip configs carry no
preprocessing (it comes with a pretrained tag); ours is in `clip_models/preprocess.json` and `create()` passes it.

`fashion-effnet-lite0` (the default): a timm EfficientNet-Lite0 image tower at 160 px (the attribute model's
backbone and input size: ImageNet-initialised from its registry package, fashion.nets.pretrained) with a linear
projection to 256 dims, and a 4-layer, 192-wide text transformer over open_clip's BPE tokens (context 32: the
longest catalogue name is 30 tokens). `fashion-tinyvit-5m`: the same around a TinyViT-5M at 112 px (the earlier
trunk).
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import torch

from fashion.manifest import InputSpec

CONFIG_DIR = Path(__file__).with_name("clip_models")
SHIPPED_WEIGHTS = Path(__file__).resolve().parents[2] / "weights"  # committed, trained by this project
ARCHITECTURE = "fashion-effnet-lite0"  # the default embedder (weights/embedder.pt)
SHIPPED_PATTERN = "embedder*.pt"  # what export's weight lookup looks for in WEIGHTS_DIR and weights/
RESIZE_MODES = {"shortest": "shortest_crop", "squash": "squash"}  # open_clip's resize_mode -> InputSpec.resize


@functools.lru_cache(maxsize=1)
def register() -> tuple[str, ...]:
    """Add our configs to open_clip (once per process); returns their names."""
    import open_clip

    open_clip.add_model_config(CONFIG_DIR)
    return tuple(p.stem for p in CONFIG_DIR.glob("*.json") if p.stem in open_clip.list_models())


def is_ours(name: str) -> bool:
    return (CONFIG_DIR / f"{name}.json").is_file()


@functools.lru_cache(maxsize=None)
def preprocess_for(name: str) -> dict[str, Any]:
    """open_clip's image preprocessing overrides for one of our architectures ({} for any other model)."""
    table = json.loads((CONFIG_DIR / "preprocess.json").read_text())
    return dict(table.get(name, {}))


def create(name: str = ARCHITECTURE, pretrained: str | None = None) -> tuple[torch.nn.Module, Any]:
    """(model in eval mode, open_clip's eval transform) for any open_clip name; ours registered first."""
    import open_clip

    register()
    pp = preprocess_for(name)
    model, _, transform = open_clip.create_model_and_transforms(
        name, pretrained=pretrained, image_mean=pp.get("mean"), image_std=pp.get("std"),
        image_interpolation=pp.get("interpolation"), image_resize_mode=pp.get("resize_mode"))
    return model.eval(), transform


def from_checkpoint(path: str | Path) -> tuple[torch.nn.Module, str]:
    """(model in eval mode, its architecture) for an embedder checkpoint, built as the architecture it names."""
    architecture = torch.load(path, map_location="cpu", weights_only=True)["architecture"]
    return create(architecture, pretrained=str(path))[0], architecture


def architecture_for(attributes_checkpoint: str | Path) -> str:
    """Our architecture whose image tower is the attribute checkpoint's trunk at its input size (the embedder then
    shares that trunk: fashion.nets.trunk). Raises ValueError when none is."""
    ckpt = torch.load(attributes_checkpoint, map_location="cpu", weights_only=True)
    for config in sorted(CONFIG_DIR.glob("*.json")):
        vision = json.loads(config.read_text()).get("vision_cfg", {})
        if (vision.get("timm_model_name") == ckpt["architecture"]
                and int(vision.get("image_size", 0)) == int(ckpt["input_size"])):
            return config.stem
    raise ValueError(f"no architecture in {CONFIG_DIR} has a {ckpt['architecture']} image tower at "
                     f"{ckpt['input_size']} px (the trunk of {attributes_checkpoint}); add one")


def input_spec(model: torch.nn.Module) -> InputSpec:
    """The model's own eval transform (open_clip's preprocess_cfg) as the InputSpec training and serving use."""
    cfg = model.visual.preprocess_cfg
    resize = RESIZE_MODES.get(cfg.get("resize_mode", "shortest"))
    if resize is None:
        raise ValueError(f"resize_mode={cfg['resize_mode']!r} is not supported; supported: {sorted(RESIZE_MODES)}")
    size = tuple(cfg["size"]) if isinstance(cfg["size"], (tuple, list)) else (cfg["size"], cfg["size"])
    return InputSpec(size, resize, cfg["interpolation"], tuple(cfg["mean"]), tuple(cfg["std"]))


def embedding_dim(model: torch.nn.Module) -> int:
    """The image embedding's size (timm towers have no `output_dim`: measured with one forward)."""
    dim = getattr(model.visual, "output_dim", None)
    if dim is None:
        with torch.no_grad():
            dim = model.encode_image(torch.zeros(1, 3, *input_spec(model).size)).shape[-1]
    return int(dim)


def tokenizer(name: str):
    import open_clip

    register()
    return open_clip.get_tokenizer(name)


def image_trunk_from_attributes(model: torch.nn.Module, attributes_checkpoint: str | Path) -> str:
    """Copy the attribute classifier's trained backbone (weights/attributes.pt) into a timm image tower.

    Returns the backbone's architecture. Raises ValueError when the two towers differ.
    """
    ckpt = torch.load(attributes_checkpoint, map_location="cpu", weights_only=True)
    trunk = getattr(model.visual, "trunk", None)  # open_clip's timm tower
    wanted = trunk.pretrained_cfg.get("architecture") if trunk is not None else None
    if trunk is None or (wanted and wanted != ckpt["architecture"]):
        raise ValueError(f"{attributes_checkpoint} holds a {ckpt['architecture']} backbone; this model's image "
                         f"tower is {wanted or type(model.visual).__name__}")
    backbone = {k.removeprefix("backbone."): v for k, v in ckpt["state_dict"].items() if k.startswith("backbone.")}
    trunk.load_state_dict(backbone, strict=True)
    return str(ckpt["architecture"])

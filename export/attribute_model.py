"""ONE TinyViT backbone with one linear head per attribute: a single multi-output model."""
from __future__ import annotations

import torch


class MultiHeadClassifier(torch.nn.Module):
    def __init__(self, backbone: torch.nn.Module, heads: dict[str, list[str]]) -> None:
        super().__init__()
        self.backbone = backbone
        self.head_names = list(heads)
        self.heads = torch.nn.ModuleList(torch.nn.Linear(backbone.num_features, len(v)) for v in heads.values())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.backbone(x)
        return tuple(head(features) for head in self.heads)


def build(architecture: str, heads: dict[str, list[str]], pretrained: bool = False) -> MultiHeadClassifier:
    import timm

    return MultiHeadClassifier(timm.create_model(architecture, pretrained=pretrained, num_classes=0), heads)

"""An ImageNet timm trunk as the first layer of an ultralytics YOLO-seg model (configs/yolo-seg-lite0.yaml).

`TimmBackbone` returns the trunk's feature maps at strides 8, 16 and 32 as a list, and ultralytics' own `Index`
layers pick one each for the YOLOv8 neck, the shape of ultralytics' `TorchVision` block. `register()` makes the
name known to ultralytics' model builder (it looks layers up among its own module's names), so the model is
described by its YAML like any other; a model with this layer is rebuilt from the same YAML (training, export,
fashion.nets.segmenter_checkpoint), its weights then replaced by the checkpoint's.
"""
from __future__ import annotations

import functools

import torch

STRIDES = (8, 16, 32)
WEIGHTS = ("package", "none")  # the trunk's starting weights: its registry package (fashion.nets.pretrained), or random


class TimmBackbone(torch.nn.Module):
    """timm `model` with `features_only`: [P3, P4, P5] for an input batch."""

    def __init__(self, model: str, weights: str = "package") -> None:
        import timm

        super().__init__()
        if weights not in WEIGHTS:
            raise ValueError(f"TimmBackbone weights must be one of {WEIGHTS}, not {weights!r}")
        probe = timm.create_model(model, pretrained=False, features_only=True)
        reductions = list(probe.feature_info.reduction())
        missing = [s for s in STRIDES if s not in reductions]
        if missing:
            raise ValueError(f"{model} has no feature maps at strides {missing} (it has {reductions})")
        self.out_indices = tuple(reductions.index(s) for s in STRIDES)
        self.m = timm.create_model(model, pretrained=False, features_only=True, out_indices=self.out_indices)
        self.channels = tuple(self.m.feature_info.channels())
        if weights == "package":
            self._load_packaged(model)

    def _load_packaged(self, model: str) -> None:
        """The packaged ImageNet tensors by name from the full model (features_only keeps the trunk's names)."""
        from fashion.nets import pretrained

        full = pretrained.create(model).state_dict()
        own = self.m.state_dict()
        missing = [k for k in own if k not in full or full[k].shape != own[k].shape]
        if missing:
            raise pretrained.PretrainedWeightsError(f"{model}: {len(missing)} feature tensors have no packaged "
                                                    f"pair, first {missing[0]}")
        self.m.load_state_dict({k: full[k] for k in own})

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.m(x)


@functools.lru_cache(maxsize=1)
def register() -> None:
    """Make `TimmBackbone` a layer name ultralytics' YAML parser knows (idempotent). Layers it does not list take
    their input's channels, which only the `Index` layers after it read, and they name their own."""
    from ultralytics.nn import tasks

    vars(tasks).setdefault("TimmBackbone", TimmBackbone)

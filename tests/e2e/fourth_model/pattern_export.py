"""The toy fourth model's exporter, copied to export/pattern.py by tests/e2e/test_fourth_model.py: a tiny CNN
with random weights (seed 0), traced to TorchScript, and its manifest."""
from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from export.options import ExportOptions
from fashion.manifest import InputSpec, Manifest

CLASSES = ["solid", "striped", "floral"]


def export_with(out_dir: Path, check_image: Image.Image, options: ExportOptions, backend: str = "torchscript",
                precision: str = "fp32") -> Manifest:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(8, len(CLASSES))).eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.jit.trace(net, torch.zeros(1, 3, 32, 32)).save(str(out_dir / "pattern.pt"))
    manifest = Manifest("pattern", "tiny-cnn", "pattern.pt", InputSpec((32, 32), "shortest_crop", "bilinear"),
                        {"source": "random:seed0", "random": True}, {"classes": CLASSES},
                        {"backend": backend, "precision": precision}, {})
    manifest.save(out_dir)
    return manifest

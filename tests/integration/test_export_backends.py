"""AOTInductor (a C++ compile, about 20 s here) against eager; TorchScript artifacts free of CPU-pinned
constants, so that the GPU archives (`--target cuda`, traced on a CPU build machine) can run on a GPU."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from export._trace import artifact_name, convert
from fashion.backends import load_runner
from fashion.request.decode import decode_image
from tests.unit.test_backends import TwoHeads

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = os.environ.get("WEIGHTS_DIR") or str(ROOT.parent / "shared" / "weights")


def test_aoti_matches_eager_for_any_batch(tmp_path):
    model = TwoHeads().eval()
    path = tmp_path / artifact_name("tiny", "aoti")
    convert(model, torch.rand(1, 3, 16, 16), path, "aoti")
    run = load_runner(path, "aoti", torch.device("cpu"), threads=1)
    for n in (1, 3):
        x = torch.rand(n, 3, 16, 16)
        with torch.no_grad():
            want = model(x)
        for g, w in zip(run(x), want):
            torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)


def test_torchscript_exports_pin_nothing_to_the_cpu(tmp_path, street_photos):
    """A device constant in a traced graph (ultralytics computes its anchors with torch.arange(device=...))
    would put tensors on the CPU inside a model loaded onto a GPU."""
    from export import attributes, segmenter

    image = decode_image(street_photos[0].read_bytes())
    segmenter.export(tmp_path, image, None, WEIGHTS, backend="torchscript")
    attributes.export(tmp_path, image, None, None, backend="torchscript")
    for name in ("segmenter", "attributes"):
        graph = str(torch.jit.load(str(tmp_path / f"{name}.pt")).inlined_graph)
        assert 'value="cpu"' not in graph, f"{name}: a CPU device constant in the traced graph"

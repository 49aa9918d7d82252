"""AOTInductor (a C++ compile, about 20 s here) answers like the eager module for any batch size."""
from __future__ import annotations

import torch

from export._trace import artifact_name, convert
from fashion.backends import load_runner
from tests.unit.test_backends import TwoHeads


def test_aoti_matches_eager_for_any_batch(tmp_path):
    """AOTInductor compiles C++ (about 20 s here): same answers as eager at batch 1 and 3."""
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

"""The weights this repository ships are what their sha256 files say, small, and loadable without pickle."""
from __future__ import annotations

import hashlib

import pytest
import torch

from tests.conftest import ROOT

SHIPPED = sorted((ROOT / "weights").glob("*.pt"))


def test_something_is_shipped():
    assert [p.name for p in SHIPPED] == ["attributes.pt"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_weights_match_their_sha256_and_load(path):
    expected = (path.parent / f"{path.name}.sha256").read_text().split()[0]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == expected
    assert path.stat().st_size < 50 * 2**20
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    assert {"architecture", "input_size", "heads", "state_dict", "report"} <= set(checkpoint)

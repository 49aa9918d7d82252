"""The weights this repository ships are what their sha256 files say, small, and loadable without pickle."""
from __future__ import annotations

import hashlib

import pytest
import torch

from tests.conftest import ROOT

SHIPPED = sorted((ROOT / "weights").glob("*.pt"))


KEYS = {"attributes.pt": {"architecture", "input_size", "heads", "state_dict", "report"},
        "embedder.pt": {"architecture", "init", "split_sha256", "state_dict", "report"}}


def test_the_trained_models_are_shipped():
    assert [p.name for p in SHIPPED] == ["attributes.pt", "embedder.pt"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_weights_match_their_sha256_and_load(path):
    expected = (path.parent / f"{path.name}.sha256").read_text().split()[0]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == expected
    assert path.stat().st_size < 50 * 2**20
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    assert KEYS[path.name] <= set(checkpoint)


def test_the_shipped_embedder_is_our_architecture_and_loads_through_open_clip():
    from fashion import embedder_model

    path = ROOT / "weights" / "embedder.pt"
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    assert checkpoint["architecture"] == embedder_model.ARCHITECTURE
    model, _ = embedder_model.create(checkpoint["architecture"], pretrained=str(path))  # strict load
    assert embedder_model.embedding_dim(model) == checkpoint["report"]["model"]["embed_dim"]

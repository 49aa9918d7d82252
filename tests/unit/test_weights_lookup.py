"""Where export finds weights: an explicit file, then WEIGHTS_DIR, then the repository's shipped weights/."""
from __future__ import annotations

import pytest

from export import _weights
from export._weights import find_local


def test_explicit_then_weights_dir_then_shipped(tmp_path, monkeypatch):
    shipped, mine = tmp_path / "shipped", tmp_path / "mine"
    shipped.mkdir()
    mine.mkdir()
    monkeypatch.setattr(_weights, "SHIPPED_WEIGHTS", shipped)
    assert find_local(None, None, ("attributes*.pt",)) is None
    (shipped / "attributes.pt").write_bytes(b"x")
    assert find_local(None, None, ("attributes*.pt",)) == shipped / "attributes.pt"
    assert find_local(None, str(mine), ("attributes*.pt",)) == shipped / "attributes.pt"
    (mine / "attributes-v2.pt").write_bytes(b"y")
    assert find_local(None, str(mine), ("attributes*.pt",)) == mine / "attributes-v2.pt"
    explicit = tmp_path / "other.pt"
    explicit.write_bytes(b"z")
    assert find_local(str(explicit), str(mine), ("attributes*.pt",)) == explicit
    with pytest.raises(FileNotFoundError):
        find_local(str(tmp_path / "missing.pt"), None, ("attributes*.pt",))

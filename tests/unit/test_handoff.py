"""The workflow's hand-off (fashion.request.handoff): pixels instead of the upload where cheaper, the same responses."""
from __future__ import annotations

import json

import pytest

from export.archive import handoff_file
from fashion.request import handoff
from fashion import pipeline
from fashion.envelope import unpack
from fashion.request.handoff import Downstream, pixels_cheaper
from fashion.manifest import InputSpec
from handlers.model_handler import ModelHandler
from tests.unit.tiny_models import FakeContext, build_artifacts, solid_jpeg

A = InputSpec((112, 112), "shortest_crop", "bicubic", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
B = InputSpec((224, 224), "shortest_crop", "bicubic")


def test_shared_specs_share_pixels_and_crops_go_with_the_models_that_take_them():
    assert Downstream.of({"attributes": A, "embedder": A}).inputs == ((A, True),)
    assert Downstream.of({"attributes": B, "embedder": A}).inputs == ((B, True), (A, True))  # both crop
    both = Downstream.of({"attributes": B, "embedder": A})
    assert both.pixel_bytes(garments=2) == 3 * 3 * 224 * 224 + 3 * 3 * 112 * 112


def test_rule_passes_pixels_only_when_cheaper():
    small_upload = pixels_cheaper(upload_bytes=5_000, upload_pixels=60_000, pixel_bytes=37_632)
    camera = pixels_cheaper(upload_bytes=3_000_000, upload_pixels=12_000_000, pixel_bytes=5 * 37_632)
    assert not small_upload and camera


def test_saved_and_loaded(tmp_path):
    down = Downstream.of({"attributes": B, "embedder": A})
    down.save(tmp_path / handoff.HANDOFF_FILE)
    assert Downstream.load(tmp_path) == down and Downstream.load(tmp_path / "nothing") is None


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    directory = build_artifacts(tmp_path_factory.mktemp("handoff"))
    handoff_file(directory)  # what export.archive puts in the segmenter archive
    return directory


def node(directory, name: str):
    ctx = FakeContext(directory, name)
    handler = ModelHandler()
    handler.initialize(ctx)
    return handler, ctx


@pytest.mark.parametrize("route", ["pixels", "upload"])
def test_workflow_answers_the_same_whichever_is_passed_on(artifacts, monkeypatch, route):
    monkeypatch.setattr(pipeline, "pixels_cheaper", lambda *a, **k: route == "pixels")
    requests = [{"body": solid_jpeg((255, 0, 0))}, {"body": b"not an image"}, {"body": solid_jpeg((0, 0, 255))}]
    (seg, seg_ctx), (attr, attr_ctx), (emb, emb_ctx) = (
        node(artifacts, f"fashion__{name}") for name in ("segmenter", "attributes", "embedder"))
    seg_out = seg.handle(requests, seg_ctx)
    passed = unpack(seg_out[0]).items[0]
    if route == "pixels":
        assert passed.picture.upload is None and len(passed.picture.inputs) == 2  # the two tiny models' specs differ
        assert sorted(len(p) for p in passed.picture.inputs.values()) == [1 + len(passed.garments)] * 2  # both crop
    else:
        assert passed.picture.upload is not None and not passed.picture.inputs
    attr_out = attr.handle([{"body": e} for e in seg_out], attr_ctx)
    flow = [json.loads(r) for r in emb.handle([{"body": e} for e in attr_out], emb_ctx)]
    ensemble, ens_ctx = node(artifacts, "fashion")
    assert flow == [json.loads(r) for r in ensemble.handle(requests, ens_ctx)]
    assert flow[0]["garments"] and flow[1]["error"]["code"] == 415


def test_a_node_whose_spec_was_not_passed_on_says_so(artifacts, monkeypatch):
    monkeypatch.setattr(pipeline, "pixels_cheaper", lambda *a, **k: True)
    seg, seg_ctx = node(artifacts, "fashion__segmenter")
    env = unpack(seg.handle([{"body": solid_jpeg((255, 0, 0))}], seg_ctx)[0])
    env.items[0].picture.inputs.clear()  # as if the archives came from different exports
    with pytest.raises(RuntimeError, match="make archives"):
        pipeline.input_pixels(env.items[0], A)

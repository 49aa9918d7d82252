"""Handlers in-process with a fake TorchServe context and tiny fixed-weight models: exact values."""
from __future__ import annotations

import json

import numpy as np
import pytest

from handlers.model_handler import ModelHandler
from tests.unit.tiny_models import FakeContext, build_artifacts, solid_jpeg

RED = (255, 0, 0)


@pytest.fixture(scope="module")
def context(tmp_path_factory) -> FakeContext:
    return FakeContext(build_artifacts(tmp_path_factory.mktemp("artifacts")))


@pytest.fixture(scope="module")
def handlers(context):
    out = {}
    for name in ("segmenter", "embedder", "attributes", "fashion"):
        h = ModelHandler()
        h.initialize(FakeContext(context.system_properties["model_dir"], name))
        out[name] = h
    return out


def test_segmenter_box_and_mask_in_original_coordinates(handlers, context):
    # 128x96 image letterboxed into 64x64: scale 0.5, padded 8 px at top and bottom
    body = json.loads(handlers["segmenter"].handle([{"body": solid_jpeg(RED)}], context)[0])
    (g,) = body["garments"]
    assert g["label"] == "pants" and g["score"] == 0.9
    assert g["box"] == [44.0, 48.0, 84.0, 80.0]  # ((32 -+ 10), (40 -+ 8) - 8) / 0.5
    # the prototype is positive on input columns 0..31, i.e. image columns 0..63: inside the box, 44..63
    assert g["area"] == (64 - 44) * (80 - 48)
    assert body["models"][0]["random_weights"] is True


def test_embedder_exact_mean_colour(handlers, context):
    body = json.loads(handlers["embedder"].handle([{"body": solid_jpeg(RED)}], context)[0])
    expected = np.array([1.0, -1.0, -1.0]) / np.sqrt(3)  # (255/255 - .5)/.5 = 1 ; (0 - .5)/.5 = -1
    np.testing.assert_allclose(body["embedding"], expected, atol=1e-6)


def test_attributes_exact_labels(handlers, context):
    body = json.loads(handlers["attributes"].handle([{"body": solid_jpeg(RED)}], context)[0])
    meta = body["metadata"]
    assert meta["gender"] == {"label": "Men", "score": round(float(np.exp(1) / (np.exp(1) + 1)), 4)}
    assert meta["season"]["label"] == "Summer"  # logits [mean blue = 0, 0.5]
    assert meta["productDisplayName"] == "Men"


def workflow_node(name: str, context: FakeContext):
    node = FakeContext(context.system_properties["model_dir"], f"fashion__{name}")
    handler = ModelHandler()
    handler.initialize(node)
    return handler, node


def test_workflow_nodes_equal_ensemble_and_batch_keeps_order(handlers, context):
    """The workflow's chain (export.archive.workflow_spec): segmenter -> attributes -> embedder (leaf)."""
    good = solid_jpeg(RED)
    requests = [{"body": good}, {"body": b"not an image"}, {"body": {"b64": "!!"}}]
    (seg, seg_ctx), (attr, attr_ctx), (emb, emb_ctx) = (
        workflow_node(name, context) for name in ("segmenter", "attributes", "embedder"))
    seg_out = seg.handle(requests, seg_ctx)
    attr_out = attr.handle([{"body": e} for e in seg_out], attr_ctx)
    flow = [json.loads(r) for r in emb.handle([{"body": e} for e in attr_out], emb_ctx)]
    ensemble = [json.loads(r) for r in handlers["fashion"].handle(requests, EnsembleContext(context))]
    assert flow == ensemble
    assert emb_ctx.statuses == {}  # /wfpredict cannot carry a status: the error travels in the body
    assert len(flow[0]["garments"]) == 1 and len(flow[0]["garments"][0]["embedding"]) == 3
    assert flow[1]["error"]["code"] == 415 and flow[2]["error"]["code"] == 400


def test_statuses_set_per_item(handlers, context):
    ctx = EnsembleContext(context)
    handlers["fashion"].handle([{"body": solid_jpeg(RED)}, {"body": b""}], ctx)
    assert 0 not in ctx.statuses and ctx.statuses[1][0] == 400


def test_text_without_text_tower_is_a_400(handlers, context):
    ctx = EnsembleContext(context)
    out = json.loads(handlers["embedder"].handle([{"body": {"text": ["red dress"]}}], ctx)[0])
    assert out["error"]["code"] == 400 and ctx.statuses[0][0] == 400


class EnsembleContext(FakeContext):
    def __init__(self, base: FakeContext) -> None:
        super().__init__(base.system_properties["model_dir"])


def test_metrics_per_phase_images_garments_and_errors(handlers, context):
    from tests.unit.tiny_models import RecordingMetrics

    ctx = EnsembleContext(context)
    ctx.metrics = RecordingMetrics()
    handlers["fashion"].handle([{"body": solid_jpeg(RED)}, {"body": b"junk"}, {"body": b""}], ctx)
    m = ctx.metrics
    assert {d["Phase"] for n, _, d in m.calls if n == "FashionStageTime"} == {"decode", "predict", "encode"}
    assert m.total("FashionImages", Node="fashion") == 1 and m.total("FashionGarments", Node="fashion") == 1
    assert m.total("FashionErrors", Code="415") == 1 and m.total("FashionErrors", Code="400") == 1


def test_workflow_counts_an_error_once_at_the_leaf(context):
    from tests.unit.tiny_models import RecordingMetrics

    nodes = [workflow_node(name, context) for name in ("segmenter", "attributes", "embedder")]
    data = [{"body": b"junk"}]
    for handler, ctx in nodes:
        ctx.metrics = RecordingMetrics()
        data = [{"body": r} for r in handler.handle(data, ctx)]
    assert [ctx.metrics.total("FashionErrors") for _, ctx in nodes] == [0, 0, 1]

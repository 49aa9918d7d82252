"""Zero-shot metadata (untrained attribute heads) and user-label tags, with tiny exact models."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fashion.errors import InvalidInput
from fashion.request.limits import limits
from fashion.request.options import parse_options
from fashion.stages.zeroshot import ZeroShot, label_tables, prompts, scores
from handlers.model_handler import ModelHandler
from tests.unit.test_handlers import EnsembleContext, workflow_node
from tests.unit.tiny_models import FakeContext, build_artifacts, solid_jpeg

RED, BLUE = (255, 0, 0), (0, 0, 255)


@pytest.fixture(scope="module")
def context(tmp_path_factory) -> FakeContext:
    return FakeContext(build_artifacts(tmp_path_factory.mktemp("zero_shot"), zero_shot=True))


@pytest.fixture(scope="module")
def ensemble(context) -> ModelHandler:
    handler = ModelHandler()
    handler.initialize(context)
    return handler


def test_prompts_use_catalogue_words():
    assert prompts("articleType", "Dresses") == ["a product photo of a dress.", "a photo of a dress, a fashion item."]
    assert "men" in prompts("gender", "Men")[0]


def test_label_tables_average_prompts_and_skip_other():
    calls = []

    def embed_texts(texts):
        calls.append(texts)
        return np.array([[1.0, 0.0], [0.0, 1.0]])[: len(texts)]

    tables = label_tables(embed_texts, {"usage": ["Casual", "Other"]})
    assert tables["usage"]["labels"] == ["Casual"] and len(calls) == 1
    np.testing.assert_allclose(tables["usage"]["embeddings"], [[np.sqrt(0.5), np.sqrt(0.5)]], rtol=1e-6)


def test_zero_shot_metadata_is_nearest_label_and_marked():
    tables = {"baseColour": {"labels": ["Red", "Blue"], "embeddings": np.eye(2, dtype=np.float32)}}
    meta = ZeroShot(tables, {}, 100.0).metadata(np.array([[0.0, 1.0]], np.float32))[0]
    assert meta["baseColour"] == {"label": "Blue", "score": 1.0} and meta["source"] == "zero-shot"
    np.testing.assert_allclose(scores(np.array([[1.0, 0.0]]), np.eye(2), 1.0)[0].sum(), 1.0)


@pytest.mark.parametrize("colour,expected", [(RED, "Red"), (BLUE, "Blue")])
def test_untrained_heads_give_zero_shot_metadata(ensemble, context, colour, expected):
    body = json.loads(ensemble.handle([{"body": solid_jpeg(colour)}], EnsembleContext(context))[0])
    meta = body["metadata"]
    assert meta["source"] == "zero-shot" and meta["baseColour"]["label"] == expected
    assert meta["gender"]["label"] == ("Men" if colour == RED else "Women")
    if expected == "Red":  # no articleType head here, so the mapping is not used; display name from fields
        assert meta["productDisplayName"] == "Men Red"


def test_workflow_equals_ensemble_with_zero_shot(ensemble, context):
    requests = [{"body": solid_jpeg(RED)}, {"body": solid_jpeg(BLUE)}]
    (seg, seg_ctx), (attr, attr_ctx), (emb, emb_ctx) = (
        workflow_node(name, context) for name in ("segmenter", "attributes", "embedder"))
    flow = emb.handle([{"body": e} for e in attr.handle([{"body": e} for e in seg.handle(requests, seg_ctx)],
                                                        attr_ctx)], emb_ctx)
    assert [json.loads(r) for r in flow] == [json.loads(r) for r in ensemble.handle(requests, EnsembleContext(context))]


def test_labels_without_text_tower_are_a_clear_400(ensemble, context):
    ctx = EnsembleContext(context)
    body = json.loads(ensemble.handle([{"body": {"b64": _b64(solid_jpeg(RED)), "labels": ["red"]}}], ctx)[0])
    assert body["error"]["code"] == 400 and "text tower" in body["error"]["message"]
    assert ctx.statuses[0][0] == 400


def test_user_labels_score_whole_image_and_each_garment(ensemble, context, monkeypatch):
    words = {"a photo of red.": (1.0, -1.0, -1.0), "a photo of blue.": (-1.0, -1.0, 1.0)}
    model = ensemble.stage.model("embedder")
    monkeypatch.setattr(model, "text_module", object())
    monkeypatch.setattr(model, "embed_texts", lambda texts: np.array(
        [np.array(words[t]) / np.sqrt(3) for t in texts], np.float32))
    monkeypatch.setattr(model, "_label_vectors", {})
    body = json.loads(ensemble.handle([{"body": {"b64": _b64(solid_jpeg(RED)), "labels": "blue, red"}}],
                                      EnsembleContext(context))[0])
    assert [t["label"] for t in body["tags"]] == ["red", "blue"]
    # cosine 1 vs -1/3, logit_scale 10: softmax = 1 / (1 + exp(-10 * 4 / 3))
    assert body["tags"][0]["score"] == round(float(1 / (1 + np.exp(-10.0 * 4 / 3))), 4)
    (garment,) = body["garments"]
    assert [t["label"] for t in garment["tags"]] == ["red", "blue"]


def test_labels_option_parsing():
    assert parse_options({"labels": "floral, striped,floral"}).labels == ("floral", "striped")
    assert parse_options({"labels": ["a b"]}).labels == ("a b",)
    for bad in ([1, 2], ["x"] * 0 + [str(i) for i in range(limits().max_labels + 1)], ["y" * 81], {"a": 1}):
        with pytest.raises(InvalidInput):
            parse_options({"labels": bad})


def _b64(data: bytes) -> str:
    import base64
    return base64.b64encode(data).decode()

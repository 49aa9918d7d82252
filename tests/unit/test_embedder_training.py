"""The embedder's training parts: captions, the multi-positive loss, retrieval figures, our open_clip config."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from fashion.nets import embedder_model
from training.captions import captions
from training.catalogue import Record
from training.contrastive import half_state, multi_positive_loss
from training.retrieval import category_precision, image_precision, recall_mrr, top_k


def _record(name: str | None = "Puma Men Black Tshirts", **labels) -> Record:
    base = {"gender": "Men", "articleType": "Tshirts", "baseColour": "Black", "season": "Summer", "usage": "Casual"}
    return Record("1", Path("1.jpg"), base | labels, "Apparel", "Topwear", name)


def test_captions_hold_the_name_the_phrases_and_the_bare_labels():
    got = captions(_record())
    assert got[0] == "Puma Men Black Tshirts"
    assert "men black tshirts" in got and "a black tshirt for men" in got and "casual tshirt for summer" in got
    assert {"Tshirts", "Black", "Casual", "Men", "Summer"} <= set(got)
    assert "a product photo of a tshirt." in got  # the zero-shot prompt (fashion.stages.zeroshot) of its articleType
    assert len(got) == len(set(got))


def test_captions_without_a_name_or_with_missing_labels():
    got = captions(_record(name=None, season=None, usage=None))
    assert "Puma Men Black Tshirts" not in got and "men black tshirts" in got
    assert not any("summer" in c.lower() for c in got)


def test_multi_positive_loss_treats_identical_captions_as_matches():
    scale = torch.tensor(math.log(100.0))
    twins = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), dim=-1)
    apart = torch.eye(3)
    # images 0 and 1 share a caption: embedding them alike is the best there is (they split the probability) ...
    assert float(multi_positive_loss(twins, twins, torch.tensor([7, 7, 3]), scale)) == pytest.approx(
        math.log(2) * 2 / 3, abs=1e-3)
    # ... and pushing them apart is penalised, while captions that differ want exactly that
    assert float(multi_positive_loss(apart, apart, torch.tensor([7, 7, 3]), scale)) > 10
    assert float(multi_positive_loss(apart, apart, torch.tensor([7, 8, 3]), scale)) < 1e-3


def test_recall_and_mrr_on_a_hand_made_gallery():
    gallery = np.eye(3, dtype=np.float32)
    queries = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 0.2, 1]], dtype=np.float32)
    got = recall_mrr(queries, gallery, np.array([0, 1, 2]), ks=(1, 2))
    # query 1 ranks its target second (0.1 < 0.9)
    assert got == {"R@1": pytest.approx(2 / 3), "R@2": 1.0, "MRR": pytest.approx((1 + 0.5 + 1) / 3)}


def test_category_and_image_precision():
    gallery = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype=np.float32)
    labels = ["shirt", "shirt", "jeans", "shirt"]
    got = category_precision(np.array([[1, 0], [0, 1]], dtype=np.float32), gallery, labels, ["shirt", "jeans"],
                             ks=(1, 2))
    assert got == {"P@1": 1.0, "P@2": pytest.approx((1.0 + 0.5) / 2), "queries": 2}
    assert top_k(gallery, gallery, 1, exclude_self=True).ravel().tolist() == [1, 0, 3, 2]
    assert image_precision(gallery, labels, k=1) == pytest.approx(2 / 4)


def test_our_architecture_registers_with_open_clip_and_takes_the_attribute_backbone(tmp_path):
    from fashion.nets.attribute_model import ARCHITECTURE, INPUT_SIZE, build

    model, transform = embedder_model.create()
    assert embedder_model.ARCHITECTURE in embedder_model.register()
    assert model.visual.preprocess_cfg["size"] == (INPUT_SIZE, INPUT_SIZE)
    assert embedder_model.embedding_dim(model) == 256
    assert model.visual.preprocess_cfg["mean"] == embedder_model.preprocess_for(embedder_model.ARCHITECTURE)["mean"]
    assert embedder_model.tokenizer(embedder_model.ARCHITECTURE)(["red dress"]).shape == (1, 32)
    attributes = build(ARCHITECTURE, {"gender": ["Men", "Women"]}, pretrained="package")
    path = tmp_path / "attributes.pt"
    torch.save({"architecture": ARCHITECTURE, "input_size": INPUT_SIZE, "state_dict": attributes.state_dict()}, path)
    assert embedder_model.architecture_for(path) == embedder_model.ARCHITECTURE
    assert embedder_model.image_trunk_from_attributes(model, path) == ARCHITECTURE
    for k, v in attributes.backbone.state_dict().items():
        assert torch.equal(model.visual.trunk.state_dict()[k], v), k
    tinyvit = tmp_path / "tinyvit.pt"  # the earlier trunk has its own architecture; a trunk with none is refused
    torch.save({"architecture": "tiny_vit_5m_224", "input_size": 112, "state_dict": {}}, tinyvit)
    assert embedder_model.architecture_for(tinyvit) == "fashion-tinyvit-5m"
    torch.save({"architecture": "tiny_vit_5m_224", "input_size": 96, "state_dict": {}}, tinyvit)
    with pytest.raises(ValueError, match="no architecture"):
        embedder_model.architecture_for(tinyvit)


def test_a_saved_checkpoint_loads_through_open_clip_as_export_loads_it(tmp_path):
    from training.contrastive import lock_text

    model, _ = embedder_model.create()
    lock_text(model.text, 2)  # as training leaves it: the packaged text tower's lower layers stay as packaged
    path = tmp_path / "embedder.pt"
    torch.save(embedder_model.trained_state(model, half_state(model), embedder_model.ARCHITECTURE)
               | {"architecture": embedder_model.ARCHITECTURE}, path)
    loaded, _ = embedder_model.create(pretrained=str(path))
    x = torch.rand(2, 3, 160, 160)
    with torch.no_grad():
        a = torch.nn.functional.normalize(model.encode_image(x), dim=-1)
        b = torch.nn.functional.normalize(loaded.encode_image(x), dim=-1)
        tokens = embedder_model.tokenizer(embedder_model.ARCHITECTURE)(["red dress", "men black tshirts"])
        c = torch.nn.functional.normalize(model.encode_text(tokens), dim=-1)
        d = torch.nn.functional.normalize(loaded.encode_text(tokens), dim=-1)
    assert float((a * b).sum(-1).min()) > 0.999  # fp16 storage, fp32 compute
    assert float((c * d).sum(-1).min()) > 0.999
    assert path.stat().st_size < 50 * 2**20


def test_paraphrase_figures_count_products_of_the_querys_kinds():
    from training.paraphrase import Query, figures, read_queries

    queries = [Query("kicks", frozenset({"Sports Shoes"}), "slang", ()),
               Query("gym tee", frozenset({"Tshirts"}), "phrase", ("gym", "tee"))]
    images = np.eye(3, dtype=np.float32)[[0, 0, 1, 2]]  # products: two shoes, a tee, a watch
    articles = ["Sports Shoes", "Sports Shoes", "Tshirts", "Watches"]
    text = np.eye(3, dtype=np.float32)[[0, 2]]  # "kicks" looks like the shoes, "gym tee" like the watch
    names = np.eye(3, dtype=np.float32)  # the vocabulary's names in the same space
    got = figures(text, images, names, articles, ["Sports Shoes", "Tshirts", "Watches"], queries, k=2)
    assert got["unseen_words"] == {"queries": 1, "P@10": 1.0, "name@1": 1.0}
    assert got["issue_examples"] == {"queries": 1, "P@10": 0.0, "name@1": 0.0}
    committed = read_queries()
    assert len(committed) >= 50 and sum(not q.caption_words for q in committed) >= 46

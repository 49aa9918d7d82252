"""The node-to-node envelope round-trips exactly; derived catalogue fields."""
from __future__ import annotations

import numpy as np

from fashion.envelope import is_envelope, pack, unpack
from fashion.garments.masks import encode_rle
from fashion.garments.metadata import derive, singular
from fashion.request.options import Options
from fashion.results import (Embeddings, Envelope, Garment, GarmentEmbeddings, ImageResult, Metadata, Picture,
                             TextEmbeddings)


def test_envelope_round_trip():
    mask = np.zeros((6, 5), bool)
    mask[1:4, 2:5] = True
    g = Garment("top", 0, 0.75, (2.0, 1.0, 5.0, 4.0), _mask=mask)
    emb = np.arange(4, dtype=np.float32) / 7
    env = Envelope("list", Options(min_score=0.3, include=("garments", "embedding")),
                   [ImageResult(Picture(b"\x00jpeg", (5, 6)), garments=[g], outputs={
                       Embeddings: Embeddings(emb, emb[None]), GarmentEmbeddings: GarmentEmbeddings(emb[None] * 2),
                       Metadata: Metadata({"gender": {"label": "Men", "score": 0.5}}, [{"source": "classifier"}])}),
                    ImageResult(error={"error": {"code": 415, "message": "no"}})], models=[{"name": "segmenter"}],
                   outputs={TextEmbeddings: TextEmbeddings(emb[None], {"name": "embedder"})})
    data = pack(env)
    assert is_envelope(data) and not is_envelope(b"\xff\xd8")
    back = unpack(data)
    assert back.shape == "list" and back.options == env.options and back.models == env.models
    a, b = back.items
    assert a.picture.upload == b"\x00jpeg" and a.picture.size == (5, 6)
    assert a.get(Metadata) == env.items[0].get(Metadata)
    assert set(a.outputs) == {Embeddings, GarmentEmbeddings, Metadata} and not b.outputs
    np.testing.assert_array_equal(a.get(Embeddings).image, emb)
    np.testing.assert_array_equal(a.get(Embeddings).crops, emb[None])
    np.testing.assert_array_equal(a.get(GarmentEmbeddings).vectors, emb[None] * 2)
    np.testing.assert_array_equal(back.get(TextEmbeddings).vectors, emb[None])
    assert back.get(TextEmbeddings).model == {"name": "embedder"}
    np.testing.assert_array_equal(a.garments[0].mask, mask)
    assert a.garments[0].rle == encode_rle(mask) and b.error == env.items[1].error


def test_derived_fields():
    fields = {"gender": {"label": "Men", "score": 0.9}, "baseColour": {"label": "Navy Blue", "score": 0.8},
              "articleType": {"label": "Shirts", "score": 0.7}}
    out = derive(fields, {"Shirts": {"masterCategory": "Apparel", "subCategory": "Topwear"}})
    assert out["masterCategory"] == "Apparel" and out["subCategory"] == "Topwear"
    assert out["productDisplayName"] == "Men Navy Blue Shirt"
    assert [singular(x) for x in ("Dresses", "Jeans", "Watches", "Scarves", "Kurta", "Ties", "Dress", "Lip Gloss",
                                  "Accessories", "Shoe Accessories", "Lips")] == \
        ["Dress", "Jeans", "Watch", "Scarf", "Kurta", "Tie", "Dress", "Lip Gloss", "Accessory", "Shoe Accessory",
         "Lips"]


def test_the_subcategory_head_names_the_category_only_where_the_articletype_is_other():
    mapping = {"Shirts": {"masterCategory": "Apparel", "subCategory": "Topwear"},
               "Fragrance": {"masterCategory": "Personal Care", "subCategory": "Fragrance"}}
    said = {"gender": {"label": "Unisex", "score": 0.9}, "baseColour": {"label": "Black", "score": 0.8},
            "subCategory": {"label": "Fragrance", "score": 0.6}}
    other = derive({**said, "articleType": {"label": "Other", "score": 0.7}}, mapping)
    assert (other["masterCategory"], other["subCategory"]) == ("Personal Care", "Fragrance")
    assert other["productDisplayName"] == "Unisex Black Fragrance"
    known = derive({**said, "articleType": {"label": "Shirts", "score": 0.7}}, mapping)  # the articleType decides
    assert (known["masterCategory"], known["subCategory"]) == ("Apparel", "Topwear")
    unsure = derive({**said, "subCategory": {"label": "Other", "score": 0.5},
                     "articleType": {"label": "Other", "score": 0.7}}, mapping)
    assert unsure["masterCategory"] is None and unsure["subCategory"] is None
    assert unsure["productDisplayName"] == "Unisex Black"

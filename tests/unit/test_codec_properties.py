"""Property-based tests of the codec: whatever a client sends, the answer is a request or a typed 4xx."""
from __future__ import annotations

import base64
import io
import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from fashion.request.codec import ImageURL, parse_request
from fashion.response import shaped
from fashion.request.decode import decode_image
from fashion.envelope import pack, unpack
from fashion.results import Embeddings, Envelope, ImageResult, Metadata, Picture, Tags
from fashion.errors import RequestError
from fashion.request.options import Options, parse_options
from fashion.pipeline import decode

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["b64", "url", "images", "instances", "parameters", "text", "options", "labels",
                         "embedding_only", "min_score", "max_garments", "mask_format", "include", "x"]),
        children, max_size=4),
    max_leaves=12)


def _tiny_png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), (200, 10, 10)).save(buf, format="PNG")
    return buf.getvalue()


PNG = _tiny_png()


@SETTINGS
@given(json_values)
def test_any_json_is_a_request_or_a_typed_error(value):
    for body in (value, json.dumps(value).encode()):
        try:
            request = parse_request({"body": body})
        except RequestError as exc:
            assert 400 <= exc.code < 500 and exc.message
            continue
        assert all(isinstance(i, (bytes, ImageURL, RequestError)) for i in request.images)
        assert request.images or request.texts is not None


@SETTINGS
@given(st.binary(max_size=2048))
def test_any_bytes_decode_or_fail_with_a_4xx(data):
    try:
        image = decode_image(data)
    except RequestError as exc:
        assert 400 <= exc.code < 500
    else:
        assert image.mode == "RGB"


@SETTINGS
@given(st.integers(0, len(PNG) - 1), st.integers(0, 255))
def test_corrupted_png_never_escapes_as_anything_but_a_4xx(position, value):
    data = bytearray(PNG)
    data[position] = value
    for candidate in (bytes(data), bytes(data[:position])):
        try:
            decode_image(candidate)
        except RequestError as exc:
            assert 400 <= exc.code < 500


@SETTINGS
@given(json_values)
def test_prepare_never_raises_and_errors_are_4xx(value):
    env = decode({"body": value})
    errors = [env.error] if env.error else [it.error for it in env.items if it.error]
    assert all(400 <= e["error"]["code"] < 500 for e in errors)


@SETTINGS
@given(st.dictionaries(st.sampled_from(["embedding_only", "min_score", "max_garments", "mask_format", "include",
                                        "labels", "typo"]), json_values, max_size=4))
def test_options_parse_or_refuse(raw):
    try:
        options = parse_options(raw)
    except RequestError as exc:
        assert exc.code == 400
    else:
        assert isinstance(options, Options)


@SETTINGS
@given(st.lists(st.one_of(st.just(PNG), st.binary(max_size=64)), min_size=1, max_size=5),
       st.sampled_from(["single", "list", "vertex"]))
def test_batches_answer_in_order_with_errors_in_place(images, shape):
    body = {"images": [{"b64": base64.b64encode(i).decode()} for i in images]}
    env = decode({"body": body})
    assert len(env.items) == len(images)
    for item, raw in zip(env.items, images):
        assert (item.error is None) == (raw == PNG)
    payload, status = shaped(shape, [{"ok": i} for i in range(len(images))])
    assert status == 200


@SETTINGS
@given(st.lists(st.tuples(st.binary(max_size=32), st.integers(1, 6)), max_size=4), st.booleans())
def test_envelope_round_trip(items, with_error):
    rng = np.random.default_rng(0)
    env = Envelope("list", Options(labels=("a", "b")), [
        ImageResult(Picture(img, (n, n)), outputs={
            Embeddings: Embeddings(rng.standard_normal(n).astype(np.float32)), Metadata: Metadata({"k": n}),
            Tags: Tags([{"label": "a", "score": 0.5}], [])}) for img, n in items],
        error={"error": {"code": 400, "message": "x"}} if with_error else None)
    back = unpack(pack(env))
    assert back.options == env.options and back.error == env.error and len(back.items) == len(items)
    for a, b in zip(env.items, back.items):
        assert a.picture.upload == b.picture.upload and a.picture.size == b.picture.size
        assert a.get(Metadata) == b.get(Metadata)
        assert a.get(Tags) == b.get(Tags)
        np.testing.assert_array_equal(a.get(Embeddings).image, b.get(Embeddings).image)

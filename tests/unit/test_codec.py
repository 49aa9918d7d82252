"""parse_request: every request shape TorchServe hands a handler."""
from __future__ import annotations

import base64
import json

import pytest

from fashion.request.codec import ImageURL, parse_request
from fashion.response import shaped
from fashion.errors import InvalidInput, PayloadTooLarge, RequestError
from fashion.request.limits import limits

MAX_BATCH_IMAGES = limits().max_batch_images

JPEG = b"\xff\xd8\xff\xe0fake-jpeg-bytes"
B64 = base64.b64encode(JPEG).decode()


def test_raw_bytes_is_one_image():
    r = parse_request({"body": bytearray(JPEG)})
    assert r.images == [JPEG] and r.shape == "single" and r.options.mask_format == "rle"


def test_json_b64_with_options_parsed_by_torchserve_or_not():
    for body in ({"b64": B64, "min_score": 0.4}, f'{{"b64": "{B64}", "min_score": 0.4}}'.encode()):
        r = parse_request({"body": body})
        assert r.images == [JPEG] and r.options.min_score == 0.4 and r.shape == "single"


def test_data_url_prefix_is_accepted():
    assert parse_request({"body": {"b64": "data:image/jpeg;base64," + B64}}).images == [JPEG]


def test_list_and_vertex_envelope():
    r = parse_request({"body": [{"b64": B64}, B64, {"b64": "@@"}]})
    assert r.shape == "list" and r.images[:2] == [JPEG, JPEG] and isinstance(r.images[2], InvalidInput)
    v = parse_request({"body": {"instances": [{"b64": B64}], "parameters": {"embedding_only": "true"}}})
    assert v.shape == "vertex" and v.options.embedding_only is True


def test_multipart_files_in_order_and_option_fields():
    r = parse_request({"a": JPEG, "b": b"second", "max_garments": b"3", "mask_format": "polygon"})
    assert r.images == [JPEG, b"second"] and r.shape == "list"
    assert r.options.max_garments == 3 and r.options.mask_format == "polygon"


def test_text_request():
    r = parse_request({"body": {"text": ["red dress"]}})
    assert r.texts == ["red dress"] and r.images == []


@pytest.mark.parametrize("body,fragment", [
    (b'{"b64": ', "does not parse"),
    ({"b64": B64, "min_scor": 0.2}, "unknown option"),
    ({"b64": B64, "min_score": 2}, "between 0.0 and 1.0"),
    ({"b64": B64, "mask_format": "png"}, "mask_format"),
    ({"nothing": 1}, "needs"),
    ({"instances": "x"}, "must be a list"),
])
def test_whole_request_errors_say_what_to_do(body, fragment):
    with pytest.raises(InvalidInput, match=fragment):
        parse_request({"body": body})


def test_url_input_is_an_image_url_and_bad_urls_are_refused_per_item():
    url, bad = parse_request({"body": [{"url": " http://example.com/a.jpg "}, {"url": 3}]}).images
    assert url == ImageURL("http://example.com/a.jpg")
    assert isinstance(bad, RequestError) and bad.code == 400 and "url" in bad.message


def test_batch_limit():
    with pytest.raises(PayloadTooLarge, match="split the batch"):
        parse_request({"body": [B64] * (MAX_BATCH_IMAGES + 1)})


def test_encode_response_shapes():
    err = {"error": {"code": 415, "message": "x"}}
    assert shaped("single", [err]) == (err, 415)
    assert shaped("list", [{"a": 1}, err]) == ([{"a": 1}, err], 200)
    assert shaped("vertex", [{"a": 1}]) == ({"predictions": [{"a": 1}]}, 200)


def test_one_body_limit_for_torchserve_and_the_workers(tmp_path):
    MAX_REQUEST_BYTES = limits().max_request_bytes
    from launcher.torchserve import derive_config, read_config
    from tests.conftest import ROOT

    config = read_config(derive_config(ROOT / "config.properties", tmp_path / "config.properties", {}))
    assert int(config["max_request_size"]) == int(config["max_response_size"]) == MAX_REQUEST_BYTES
    with pytest.raises(PayloadTooLarge):
        parse_request({"body": b"\xff" * (MAX_REQUEST_BYTES + 1)})


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
                                  b'{"instances":' + b"[" * 5000 + b"]" * 5000 + b"}"])
def test_deeply_nested_json_is_refused_before_it_is_parsed(body):
    with pytest.raises(PayloadTooLarge, match="MAX_JSON_(CONTAINERS|KEYS)"):
        parse_request({"body": body})


@pytest.mark.parametrize("body,limit", [
    (b'{"b64": "aGVsbG8=", "x": ' + b"[" * 40 + b"]" * 40 + b"}", "MAX_JSON_DEPTH"),
    (json.dumps({f"k{i}": 1 for i in range(2000)}).encode(), "MAX_JSON_KEYS"),
    (json.dumps({"images": ["aGVsbG8="] * 900 + [[]] * 1100}).encode(), "MAX_JSON_CONTAINERS")])
def test_json_past_a_structural_limit_is_a_413_naming_it(body, limit):
    with pytest.raises(PayloadTooLarge, match=limit):
        parse_request({"body": body})


def test_colons_and_brackets_inside_strings_do_not_count():
    caption = "a: b: [c] {d} " * 500
    request = parse_request({"body": json.dumps({"text": [caption[:900]] * 3}).encode()})
    assert request.texts is not None and len(request.texts) == 3


def test_an_embedder_text_past_its_length_limit_is_a_413():
    with pytest.raises(PayloadTooLarge, match="MAX_TEXT_CHARS"):
        parse_request({"body": json.dumps({"text": ["x" * 1001]}).encode()})


def test_json_with_a_utf8_bom_is_json_and_texts_must_be_strings():
    request = parse_request({"body": b'\xef\xbb\xbf{"b64": "aGVsbG8="}'})
    assert request.images == [b"hello"]
    with pytest.raises(InvalidInput, match="list of strings"):
        parse_request({"body": b'{"text": [["red dress"]]}'})


@pytest.mark.parametrize("body", [b'{"text": ["\\ud800"]}', b'{"text": ["a \\udfff b"]}', b'{"b64": "x", "\\udbff": 1}',
                                  '{"text": ["\ud800"]}', b'{"text": ["\xed\xa0\x80"]}'])
def test_text_with_a_lone_surrogate_is_a_400_not_a_crash(body):
    with pytest.raises(InvalidInput, match="surrogate"):
        parse_request({"body": body})


def test_a_surrogate_pair_is_text():
    r = parse_request({"body": b'{"text": ["red \\ud83d\\udc57 dress"]}'})
    assert r.texts == ["red \U0001f457 dress"]

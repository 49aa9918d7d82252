"""TorchServe's request shapes in one place: parse_request() (the response side is fashion.response).

A TorchServe request item is a dict: `data`/`body` holds raw bytes, a str, or JSON TorchServe has already
parsed; a multipart form gives one key per field. We accept raw image bytes, multipart files (several = a
batch), JSON {"b64": ...}, a JSON list of those, the Vertex AI envelope {"instances": [...],
"parameters": {...}}, {"url": ...} anywhere an image goes (fetched by fashion.request.fetch when enabled) and
{"text": [...]} (embedder only).
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from typing import Any, Union

from fashion.errors import InvalidInput, PayloadTooLarge, RequestError
from fashion.request.json_bounds import UTF8_BOM, check_json_bounds, check_json_text, check_unicode, looks_like_json
from fashion.request.limits import limits
from fashion.request.options import Options, parse_options

OPTION_KEYS = frozenset(f.name for f in dataclasses.fields(Options))


@dataclasses.dataclass(frozen=True)
class ImageURL:
    """An image given as {"url": ...}: fetched by fashion.request.fetch (when enabled) before decoding."""
    url: str


ImageItem = Union[bytes, ImageURL, RequestError]


@dataclasses.dataclass
class Request:
    """One client request: its images (or a per-item error each), options and reply shape."""
    images: list[ImageItem]
    options: Options
    shape: str = "single"  # single: one object; list: a JSON list; vertex: {"predictions": [...]}
    texts: list[str] | None = None


def _b64(value: Any) -> ImageItem:
    if not isinstance(value, str):
        return InvalidInput("'b64' must be a base64 string of the image file")
    if value.startswith("data:") and "," in value:
        value = value.split(",", 1)[1]
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return InvalidInput("'b64' is not valid base64; encode the image file's bytes with standard base64")


def _instance(value: Any) -> ImageItem:
    """One image given in JSON: {"b64": ...}, a bare base64 string, or {"url": ...} (an ImageURL)."""
    if isinstance(value, str):
        return _b64(value)
    if isinstance(value, dict):
        if "b64" in value:
            return _b64(value["b64"])
        if "url" in value:
            if not isinstance(value["url"], str) or not value["url"].strip():
                return InvalidInput("'url' must be a non-empty string")
            return ImageURL(value["url"].strip())
    return InvalidInput('each image must be {"b64": "<base64>"} (or a base64 string)')


def _split_options(obj: dict[str, Any], image_keys: set[str]) -> dict[str, Any]:
    """Options sit beside the image keys, or inside a nested "options" object."""
    rest = {k: v for k, v in obj.items() if k not in image_keys}
    nested = rest.pop("options", None)
    if nested is not None:
        if not isinstance(nested, dict):
            raise InvalidInput("'options' must be an object")
        rest.update(nested)
    return rest


def _from_json(obj: Any) -> Request:
    if isinstance(obj, list):
        return Request([_instance(v) for v in obj], Options(), "list")
    if not isinstance(obj, dict):
        raise InvalidInput('JSON body must be an object such as {"b64": "..."} or a list of them')
    if "instances" in obj:
        if not isinstance(obj["instances"], list):
            raise InvalidInput("'instances' must be a list")
        params = obj.get("parameters") or {}
        if not isinstance(params, dict):
            raise InvalidInput("'parameters' must be an object of options")
        return Request([_instance(v) for v in obj["instances"]], parse_options(params), "vertex")
    if "text" in obj:
        texts = obj["text"]
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise InvalidInput("'text' must be a string or a list of strings")
        check_unicode(texts)  # TorchServe may have parsed the JSON already (no bytes to look at)
        longest = max((len(t) for t in texts), default=0)
        if longest > limits().max_text_chars:
            raise PayloadTooLarge(f"a text has {longest} characters; the limit is {limits().max_text_chars} per text "
                                  "(MAX_TEXT_CHARS; the embedder reads its first 77 tokens)")
        return Request([], parse_options(_split_options(obj, {"text"})), "list", texts=texts)
    if "images" in obj:
        if not isinstance(obj["images"], list):
            raise InvalidInput("'images' must be a list")
        return Request([_instance(v) for v in obj["images"]], parse_options(_split_options(obj, {"images"})), "list")
    if "b64" in obj or "url" in obj:
        return Request([_instance(obj)], parse_options(_split_options(obj, {"b64", "url"})), "single")
    raise InvalidInput('JSON body needs "b64", "images", "instances" or "text"; '
                       'or send the raw image bytes with Content-Type: image/jpeg')


def _parse_json_bytes(data: bytes | str) -> Any:
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    check_json_bounds(raw)
    try:
        obj = json.loads(data)
    except RecursionError:
        raise InvalidInput("the JSON body is nested too deeply; send a flat object such as "
                           '{"b64": "...", "mask_format": "none"}') from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the body looks like JSON but does not parse ({exc})") from None
    check_json_text(obj, raw)
    return obj


def _text(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else value


def _file_bytes(value: Any) -> ImageItem:
    """A multipart file part: bytes, or text TorchServe decoded from a text/* part (turned back to bytes)."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return InvalidInput("multipart fields must hold image files")


def parse_request(item: dict[str, Any]) -> Request:
    """One TorchServe request item -> Request. Raises RequestError when the whole request is unusable."""
    payload = item.get("data", item.get("body"))
    fields = {k: v for k, v in item.items() if k not in ("data", "body")}
    if payload is not None and not fields:
        request = _from_payload(payload)
    else:  # multipart form: file fields are images (in order), known option names are options
        files = [] if payload is None else [payload]
        files += [v for k, v in fields.items() if k not in OPTION_KEYS]
        options = parse_options({k: _text(v) for k, v in fields.items() if k in OPTION_KEYS})
        images = [_file_bytes(v) for v in files]
        if not images:
            raise InvalidInput("the form has no file field; attach the image as a file (-F data=@photo.jpg)")
        request = Request(images, options, "single" if len(images) == 1 else "list")
    if len(request.images) > limits().max_batch_images:
        raise PayloadTooLarge(f"{len(request.images)} images in one request; the limit is {limits().max_batch_images} "
                              "(set MAX_BATCH_IMAGES to change it) - split the batch")
    if not request.images and request.texts is None:
        raise InvalidInput("the request holds no image")
    return request


def _from_payload(payload: Any) -> Request:
    if isinstance(payload, (str, bytes, bytearray)) and len(payload) > limits().max_request_bytes:
        raise PayloadTooLarge(f"the request body is {len(payload)} bytes; the limit is {limits().max_request_bytes}")
    if isinstance(payload, (dict, list)):
        return _from_json(payload)
    if isinstance(payload, str):
        return _from_json(_parse_json_bytes(payload))
    if isinstance(payload, (bytes, bytearray)):
        data = bytes(payload)
        if looks_like_json(data):
            return _from_json(_parse_json_bytes(data.removeprefix(UTF8_BOM)))
        return Request([data], Options(), "single")
    raise InvalidInput(f"unsupported request body of type {type(payload).__name__}")

"""Structural limits of a JSON body, checked before it is parsed: keys, objects/lists, nesting depth.

The common body (a few keys, base64 strings) passes on two byte counts at memory speed: its ':' characters bound
its keys and its '{' / '[' characters bound its containers and depth. Only a body past those bounds is looked at
exactly: its strings blanked out by one regular-expression pass (so a ':' inside a caption or a data: URL does
not count), then the same counts, and the depth walked over the remaining brackets (at most max_json_containers).
"""
from __future__ import annotations

import re

from typing import Any

from fashion.errors import InvalidInput, PayloadTooLarge
from fashion.request.limits import Limits, limits

UTF8_BOM = b"\xef\xbb\xbf"
# A string, or an unterminated one to the end: every '"' starts a match, so the pass is linear in the body.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*(?:"|\\?\Z)', re.S)
_BRACKET = re.compile(rb"[\[\]{}]")
# a \uD800-\uDFFF escape (half of a pair, or alone), or such a code point written out (json.loads lets it pass)
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}|\xed[\xa0-\xbf]")


def looks_like_json(data: bytes) -> bool:
    """What the handlers read as JSON whatever the Content-Type: an object or a list (after a BOM, whitespace)."""
    head = data[:64].removeprefix(UTF8_BOM).lstrip()
    return head[:1] in (b"{", b"[")


def check_json_bounds(data: bytes, bounds: Limits | None = None) -> None:
    """Raise PayloadTooLarge (413, naming the limit) when the JSON text in `data` is past a structural limit."""
    bounds = bounds or limits()
    keys, containers = data.count(b":"), data.count(b"{") + data.count(b"[")
    if keys <= bounds.max_json_keys and containers <= min(bounds.max_json_containers, bounds.max_json_depth):
        return
    skeleton = _STRING.sub(b'""', data)
    keys, containers = skeleton.count(b":"), skeleton.count(b"{") + skeleton.count(b"[")
    if keys > bounds.max_json_keys:
        raise PayloadTooLarge(f"the JSON body has {keys} keys; the limit is {bounds.max_json_keys} (MAX_JSON_KEYS)")
    if containers > bounds.max_json_containers:
        raise PayloadTooLarge(f"the JSON body has {containers} objects and lists; the limit is "
                              f"{bounds.max_json_containers} (MAX_JSON_CONTAINERS)")
    depth = deepest = 0
    for bracket in _BRACKET.finditer(skeleton):
        depth += 1 if bracket.group() in (b"{", b"[") else -1
        deepest = max(deepest, depth)
    if deepest > bounds.max_json_depth:
        raise PayloadTooLarge(f"the JSON body is nested {deepest} levels deep; the limit is {bounds.max_json_depth} "
                              "(MAX_JSON_DEPTH)")


def check_json_text(obj: Any, data: bytes) -> None:
    """Raise InvalidInput (400) when a string of the parsed body holds a lone surrogate (an escape such as
    "\\ud800" without its pair): JSON allows it, but it is not Unicode text, and every later step that encodes it
    (a tokenizer, the response) would fail. Bodies without such an escape (nearly all) are not walked."""
    if _SURROGATE.search(data):
        check_unicode(obj)


def check_unicode(obj: Any) -> None:
    """Raise InvalidInput (400) when a string anywhere in a parsed JSON value (keys too) holds a lone surrogate.
    ASCII strings (base64 images, nearly every key) are passed over without encoding them."""
    stack = [obj]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str) and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidInput("the JSON body holds text that is not valid Unicode (a lone surrogate such as "
                                   "\\ud800 without its pair); send UTF-8 text") from None

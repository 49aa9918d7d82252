"""A property-based fuzz of the front door driven by its own OpenAPI description (GET /openapi.json).

Hypothesis draws requests from the description: an operation, then its path parameters (the enum's values, or
anything), query parameters (the documented ones, or others), a Content-Type (a documented one, or another) and
a body of that kind (option objects with odd values, batches, base64, raw bytes, multipart forms); sometimes the
method is swapped. The property: never a 5xx other than a 502/503/504 in the error shape, every 4xx in the error
shape, every answer within 5 s. tests/unit/test_frontdoor_fuzz.py runs it against a fake TorchServe,
tests/e2e/test_frontdoor_fuzz.py against the real one; FUZZ_EXAMPLES / FUZZ_E2E_EXAMPLES set how many.
"""
from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import quote

import httpx
from hypothesis import strategies as st

from launcher.http_guard import is_v2

OPTION_KEYS = ["embedding_only", "min_score", "max_garments", "mask_format", "include", "labels", "groups", "prompt",
               "options", "parameters", "instances", "images", "b64", "url", "text", "vector", "k", "scope",
               "garment", "box", "__proto__", "constructor"]
ODD_NUMBERS = ["1e999", "-1e999", "NaN", "Infinity", "-0", "1e-400", "9" * 400, "0x10", "1_000", "3.7", "-1"]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
MEDIA = ["image/jpeg", "application/json", "application/octet-stream", "multipart/form-data; boundary=b0undary",
         "text/plain", "application/x-www-form-urlencoded", "multipart/mixed; boundary=x", "multipart/form-data",
         "application/json; charset=utf-16", ""]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30), st.floats(allow_nan=False),
                    st.text(max_size=40), st.sampled_from(ODD_NUMBERS))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.sampled_from(OPTION_KEYS), inner, max_size=4)),
                      max_leaves=12)


def _json_text(obj: Any, odd: str | None) -> bytes:
    text = json.dumps(obj)
    if odd is not None:  # a number token JSON libraries disagree on, spliced in raw
        text = text.replace("null", odd, 1) if "null" in text else text
    return text.encode()


V2_NAMES = ["image", "options", "text", "response", "embedding", "photo", ""]
V2_TYPES = ["BYTES", "FP32", "UINT8", "bytes", ""]


@st.composite
def v2_bodies(draw: st.DrawFn, photo: bytes) -> tuple[bytes, str | None]:
    """An Open Inference Protocol request: tensors with odd names, types, shapes, data and binary framing."""
    b64 = base64.b64encode(photo).decode()
    data = st.lists(st.one_of(st.just(b64), st.just("http://127.0.0.1:1/x.jpg"), st.just("{}"), values), max_size=3)
    tensor = st.fixed_dictionaries({"name": st.sampled_from(V2_NAMES), "datatype": st.sampled_from(V2_TYPES),
                                    "shape": st.one_of(st.lists(st.integers(-2, 3), max_size=3), values)},
                                   optional={"data": st.one_of(data, values), "parameters": st.one_of(
                                       st.fixed_dictionaries({"binary_data_size": st.integers(-1, len(photo) + 8)}),
                                       values)})
    extras = {
        "outputs": st.lists(st.fixed_dictionaries({"name": st.sampled_from(V2_NAMES)}, optional={
            "parameters": st.fixed_dictionaries({"binary_data": st.one_of(st.booleans(), values)})}), max_size=3),
        "parameters": st.dictionaries(st.sampled_from(OPTION_KEYS + ["binary_data_output"]), values, max_size=3),
        "id": values}
    kind, n = draw(st.sampled_from(["odd", "json", "binary"])), draw(st.integers(1, 3))
    if kind == "odd":
        head = draw(st.fixed_dictionaries({"inputs": st.one_of(st.lists(tensor, max_size=3), values)},
                                          optional=extras))
    else:  # a well-formed request with odd outputs and parameters: it reaches the model server
        element = len(photo).to_bytes(4, "little") + photo
        image = {"name": "image", "datatype": "BYTES", "shape": [n]}
        image.update({"data": [b64] * n} if kind == "json" else {"parameters": {"binary_data_size": len(element) * n}})
        head = {"inputs": [image], **draw(st.fixed_dictionaries({}, optional=extras))}
    text = json.dumps(head).encode()
    if kind == "binary":
        return text + (len(photo).to_bytes(4, "little") + photo) * n, str(len(text))
    if not draw(st.booleans()):
        return text, None
    blob = draw(st.sampled_from([len(photo).to_bytes(4, "little") + photo, photo, b"", b"\xff\xff\xff\xff"]))
    return text + blob, str(draw(st.sampled_from([len(text), len(text) + 1, 0, -1])))


@st.composite
def bodies(draw: st.DrawFn, media: str, photo: bytes) -> bytes:
    kind = media.split(";")[0].strip()
    if kind == "application/json" or draw(st.integers(0, 9)) == 0:
        obj = draw(st.one_of(
            st.dictionaries(st.sampled_from(OPTION_KEYS), values, max_size=6),
            st.fixed_dictionaries({"b64": st.just(base64.b64encode(photo).decode())},
                                  optional={k: values for k in OPTION_KEYS[:8]}),
            st.lists(values, max_size=4), values))
        return _json_text(obj, draw(st.none() | st.sampled_from(ODD_NUMBERS)))
    if kind.startswith("multipart/"):
        parts = draw(st.lists(st.tuples(st.sampled_from(["data", "file", *OPTION_KEYS[:8], ""]),
                                        st.sampled_from([photo, b"", b"polygon", b"1e999", b"--b0undary"])),
                              max_size=4))
        body = b"".join(b'--b0undary\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (n.encode(), v)
                        for n, v in parts)
        return body + (b"--b0undary--\r\n" if draw(st.booleans()) else b"")
    return draw(st.one_of(st.just(photo), st.binary(max_size=2000), st.just(photo[: len(photo) // 2])))


@st.composite
def requests(draw: st.DrawFn, spec: dict[str, Any], photo: bytes) -> dict[str, Any]:
    """One request drawn from the description: method, path, params, headers, content."""
    path, item = draw(st.sampled_from(sorted(spec["paths"].items())))
    method, operation = draw(st.sampled_from(sorted(item.items())))
    method = method.upper()
    if draw(st.integers(0, 9)) == 0:
        method = draw(st.sampled_from(METHODS))
    for param in operation.get("parameters", []):
        if param["in"] != "path":
            continue
        choices = param["schema"].get("enum") or ["1.0"]
        value = draw(st.one_of(st.sampled_from(choices), st.text(min_size=1, max_size=30).map(
            lambda t: quote(t, safe=""))))  # anything, percent-encoded: the guard sees %2F, %2E%2E, %00 ...
        path = path.replace("{" + param["name"] + "}", value)
    documented = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
    params = draw(st.dictionaries(st.sampled_from(documented + OPTION_KEYS[:6]) if documented
                                  else st.sampled_from(OPTION_KEYS[:6]),
                                  st.one_of(st.sampled_from(ODD_NUMBERS), st.text(max_size=20)), max_size=3)
                  if draw(st.integers(0, 4)) == 0 or documented else st.just({}))
    media_types = list(operation.get("requestBody", {}).get("content", {})) or ["application/json"]
    media = draw(st.one_of(st.sampled_from(media_types), st.sampled_from(MEDIA)))
    media = "image/jpeg" if media == "image/*" else media
    headers = {"Content-Type": media} if media else {}
    content = b""
    if method in ("POST", "PUT", "PATCH") and path.startswith("/v2/") and draw(st.integers(0, 3)) > 0:
        content, header_length = draw(v2_bodies(photo))
        if header_length is not None:
            headers["Inference-Header-Content-Length"] = header_length
    elif method in ("POST", "PUT", "PATCH"):
        content = draw(bodies(media, photo))
    return {"method": method, "url": path, "params": params, "content": content, "headers": headers}


def problem(r: httpx.Response, seconds: float) -> str | None:
    """What is wrong with one fuzzed answer, or None."""
    if seconds > 5:
        return f"answered after {seconds:.1f} s"
    if r.status_code >= 500 and r.status_code not in (502, 503, 504):
        return f"HTTP {r.status_code}: {r.text[:200]}"
    if r.status_code >= 400 and r.request.method != "HEAD":  # a HEAD answer has no body
        try:
            error = r.json()["error"]
            if is_v2(r.request.url.path):  # {"error": "<message>"}
                return None if isinstance(error, str) and error else f"not v2's error shape: {r.text[:200]!r}"
            if error["code"] != r.status_code or not error["message"]:
                return f"error code {error['code']} on HTTP {r.status_code}"
        except (ValueError, KeyError, TypeError):
            return f"HTTP {r.status_code} not in the error shape: {r.text[:200]!r}"
    return None


def run_fuzz(client: httpx.Client, photo: bytes, examples: int) -> tuple[list[str], float]:
    """`examples` requests drawn from the server's own /openapi.json, sent through `client`: the problems found
    and the seconds it took (deterministic: the same requests every run)."""
    from hypothesis import HealthCheck, given, settings

    spec = client.get("/openapi.json").json()
    found: list[str] = []
    start = time.monotonic()

    @settings(max_examples=examples, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(request=requests(spec, photo))
    def fuzz(request: dict[str, Any]) -> None:
        r, seconds = send(client, request)
        if (why := problem(r, seconds)) is not None:
            found.append(f"{request['method']} {request['url']} {request['params']}: {why}")

    fuzz()
    return found, time.monotonic() - start


def send(client: httpx.Client, request: dict[str, Any]) -> tuple[httpx.Response, float]:
    start = time.monotonic()
    r = client.request(request["method"], request["url"], params=request["params"], content=request["content"],
                       headers=request["headers"])
    return r, time.monotonic() - start

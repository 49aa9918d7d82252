"""The HTTP-level hostile corpus: requests a client library would never send (odd paths, headers, query strings,
framing), written as raw bytes and sent over a plain socket, with what the front door must answer.

expect: a set of acceptable status codes (each a 4xx JSON in the error shape), or CLOSED (the connection closed,
with or without a 4xx first). `tests/unit/test_http_hygiene.py` sends every case to the front door in front of a
fake TorchServe, `tests/e2e/test_hostile_http.py` to the real one.
"""
from __future__ import annotations

import dataclasses
import json
import socket
import time

CLOSED = frozenset({0})  # 0: no response, the connection closed
PHOTO = b"<photo>"  # replaced by a real photo when sent


@dataclasses.dataclass(frozen=True)
class HttpCase:
    name: str
    raw: bytes  # the request as sent; PHOTO in it is replaced by the photo's bytes, LENGTH by its length
    expect: frozenset[int]
    closes: bool = False  # the connection must be closed after the answer
    cls: str = ""  # the class of problem
    upstream: bool = False  # refused by the model server's handlers (a fake TorchServe answers 200)


@dataclasses.dataclass
class Answer:
    status: int  # 0: none
    body: bytes
    closed: bool
    seconds: float
    extra: bytes = b""  # anything after the first response (a second, smuggled answer)


def request(method: str, target: str, headers: list[str] | None = None, body: bytes = b"",
            length: bool = True) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: front", *(headers or [])]
    if length and body and not any(h.lower().startswith(("content-length:", "transfer-encoding:")) for h in lines):
        lines.append("Content-Length: LENGTH")
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body


def _case(name: str, cls: str, raw: bytes, *codes: int, closes: bool = False, upstream: bool = False) -> HttpCase:
    return HttpCase(name, raw, frozenset(codes), closes, cls, upstream)


def _photo(target: str, *headers: str, method: str = "POST") -> bytes:
    return request(method, target, ["Content-Type: image/jpeg", *headers], PHOTO)


def _path_cases() -> list[HttpCase]:
    """Paths normalised into other APIs, internal models, TorchServe's own APIs and error shape."""
    return [
        # paths normalised into TorchServe's other APIs, internal models, TorchServe's own APIs
        _case("dot_dot_encoded", "paths", _photo("/predictions/%2e%2e/api-description"), 400),
        _case("dot_dot_plain", "paths", _photo("/predictions/../ping"), 400),
        _case("dot_dot_upper", "paths", _photo("/predictions/%2E%2E/%2E%2E/models"), 400),
        _case("dot_segment", "paths", _photo("/predictions/./fashion"), 400),
        _case("encoded_slash", "paths", _photo("/predictions/fashion%2fsegmenter"), 400),
        _case("encoded_backslash", "paths", _photo("/predictions/fashion%5c..%5cping"), 400),
        _case("double_slash", "paths", _photo("//predictions/fashion"), 400),
        _case("trailing_dot_dot", "paths", _photo("/wfpredict/fashion/../../api-description"), 400),
        _case("workflow_node_segmenter", "internal", _photo("/predictions/fashion__segmenter"), 404),
        _case("workflow_node_embedder", "internal", _photo("/predictions/fashion__embedder"), 404),
        _case("workflow_node_attributes", "internal", _photo("/predictions/fashion__attributes"), 404),
        _case("api_description", "internal", request("GET", "/api-description"), 404),
        _case("options_root", "internal", request("OPTIONS", "/"), 405),
        _case("models", "internal", request("GET", "/models"), 404),
        _case("metrics", "internal", request("GET", "/metrics"), 404),
        _case("explanations", "internal", _photo("/explanations/fashion"), 404),
        _case("kserve_v1", "internal", _photo("/v1/models/fashion:predict"), 404),
        # the Open Inference Protocol is ours (launcher.v2_route): a photo is not a v2 request; internal models,
        # Triton's repository and statistics APIs are not there
        _case("kserve_v2_photo", "v2", _photo("/v2/models/fashion/infer"), 400),
        _case("kserve_v2_node", "internal", _photo("/v2/models/fashion__segmenter/infer"), 404),
        _case("kserve_v2_repository", "internal", request("POST", "/v2/repository/index"), 404),
        _case("kserve_v2_statistics", "internal", request("GET", "/v2/models/fashion/stats"), 404),
        _case("kserve_v2_bad_header_length", "v2",
              _photo("/v2/models/fashion/infer", "Inference-Header-Content-Length: 99999999999"), 400),
        _case("kserve_v2_header_length_bytes", "v2",
              _photo("/v2/models/fashion/infer", "Inference-Header-Content-Length: 1\x01"), 400, closes=True),
        _case("workflows", "internal", request("GET", "/workflows"), 404),
        # TorchServe's own error shape
        _case("unknown_model", "shape", _photo("/predictions/nope"), 404),
        _case("unknown_version", "shape", _photo("/predictions/fashion/9.9"), 404),
        _case("bad_version", "shape", _photo("/predictions/fashion/a%20b"), 404),
        _case("unknown_workflow", "shape", _photo("/wfpredict/nope"), 404),
        _case("long_model_name", "shape", _photo("/predictions/" + "a" * 5000), 404),
        _case("delete_model", "shape", request("DELETE", "/predictions/fashion"), 405),
    ]


def _front_door_cases() -> list[HttpCase]:
    """What once made the front door answer 500, options in the query string, overflowing numbers."""
    many_params = "&".join(f"p{i}=1" for i in range(10_000))
    some_params = "&".join(f"p{i}=1" for i in range(500))
    return [
        # 500s of the front door
        _case("nul_in_path", "500", _photo("/predictions/%00"), 400),
        _case("del_in_path", "500", _photo("/predictions/fashion%7f"), 400),
        _case("utf8_in_path", "500", _photo("/predictions/%C3%A9"), 400),
        _case("bad_utf8_in_path", "500", _photo("/predictions/%ff%fe"), 400),
        _case("raw_control_in_target", "500", b"POST /predictions/\x01 HTTP/1.1\r\nHost: front\r\n\r\n", 400,
              closes=True),
        _case("raw_non_ascii_in_target", "500", b"POST /predictions/\xe9 HTTP/1.1\r\nHost: front\r\n\r\n", 400,
              closes=True),
        _case("url_100kb", "500", _photo("/predictions/fashion?" + "a" * 100_000), 431, closes=True),
        _case("url_9kb", "500", _photo("/predictions/fashion?" + "a" * 9000), 414),
        _case("query_10000_params", "500", _photo("/predictions/fashion?" + many_params), 431, closes=True),
        _case("query_500_params", "500", _photo("/search?" + some_params), 414),
        _case("authorization_non_ascii", "500", _photo("/predictions/fashion", "Authorization: Bearer \xe9t\xe9"),
              400),
        _case("content_type_non_ascii", "500", request("POST", "/predictions/fashion",
                                                       ["Content-Type: image/jp\xe9g"], PHOTO), 400),
        _case("headers_100", "500", _photo("/predictions/fashion", *[f"X-H{i}: 1" for i in range(100)]), 431),
        _case("header_20kb", "500", _photo("/predictions/fashion", "X-Big: " + "b" * 20_000), 431, closes=True),
        _case("header_without_colon", "500", _photo("/predictions/fashion", "NoColonHere"), 400, closes=True),
        _case("obs_fold", "500", _photo("/predictions/fashion", "X-A: 1", " folded"), 400, closes=True),
        # options in the query string: honoured with validation, or refused, never ignored
        _case("query_mask_format", "query", _photo("/predictions/fashion?mask_format=polygon"), 400),
        _case("query_proto", "query", _photo("/predictions/segmenter?__proto__=1"), 400),
        _case("query_overflow", "query", _photo("/wfpredict/fashion?max_garments=1e999"), 400),
        _case("query_predict_route", "query", _photo("/predict?embedding_only=true"), 400, 404),
        _case("search_query_unknown", "query", request("POST", "/search?__proto__=1", ["Content-Type: image/jpeg"],
                                                       PHOTO), 400, 404),
        _case("search_query_overflow", "query", request("POST", "/search?k=1e999", ["Content-Type: image/jpeg"],
                                                        PHOTO), 400, 404),
        # numbers that overflow, on every predict route
        *[_case(f"overflow_{model}", "numbers", request(
            "POST", f"/predictions/{model}", ["Content-Type: application/json"],
            b'{"b64": "aGVsbG8=", "max_garments": 1e999}'), 400, upstream=True)
          for model in ("segmenter", "attributes", "embedder")],
    ]


def _framing_cases() -> list[HttpCase]:
    """Request smuggling and framing the server must refuse and close on."""
    chunked_smuggle = (b"POST /predictions/fashion HTTP/1.1\r\nHost: front\r\nContent-Length: 4\r\n"
                       b"Transfer-Encoding: chunked\r\nContent-Type: image/jpeg\r\n\r\n0\r\n\r\n"
                       b"GET /ping HTTP/1.1\r\nHost: front\r\n\r\n")
    return [
        # framing
        _case("cl_and_te_smuggling", "smuggling", chunked_smuggle, 400, closes=True),
        _case("two_equal_lengths", "smuggling", request("POST", "/predictions/fashion", [
            "Content-Type: image/jpeg", "Content-Length: LENGTH", "Content-Length: LENGTH"], PHOTO), 400, closes=True),
        _case("two_different_lengths", "smuggling", request("POST", "/predictions/fashion", [
            "Content-Type: image/jpeg", "Content-Length: LENGTH", "Content-Length: 3"], PHOTO), 400, closes=True),
        _case("te_gzip", "smuggling", request("POST", "/predictions/fashion", [
            "Content-Type: image/jpeg", "Transfer-Encoding: gzip"], PHOTO), 400, closes=True),
        _case("te_twice", "smuggling", request("POST", "/predictions/fashion", [
            "Transfer-Encoding: chunked", "Transfer-Encoding: chunked"], b"0\r\n\r\n"), 400, closes=True),
        _case("negative_length", "smuggling", request("POST", "/predictions/fashion", ["Content-Length: -1"]), 400,
              closes=True),
        _case("bad_chunk_size", "smuggling", request("POST", "/predictions/fashion", [
            "Transfer-Encoding: chunked"], b"zz\r\nabc\r\n0\r\n\r\n"), 400, closes=True),
        _case("http2_preface", "smuggling", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, closes=True),
        _case("tls_hello", "smuggling", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64), 400,
              closes=True),
        _case("expect_continue_oversized", "smuggling", request("POST", "/predictions/fashion", [
            "Content-Type: image/jpeg", "Expect: 100-continue", "Content-Length: 999999999"], length=False), 413,
              closes=True),
    ]


def build_http_corpus() -> list[HttpCase]:
    return [*_path_cases(), *_front_door_cases(), *_framing_cases()]


def materialise(case: HttpCase, photo: bytes) -> bytes:
    raw = case.raw.replace(PHOTO, photo)
    head, sep, body = raw.partition(b"\r\n\r\n")
    return head.replace(b"LENGTH", str(len(body)).encode()) + sep + body


def send_raw(host: str, port: int, raw: bytes, timeout: float = 10.0, linger: float = 1.0) -> Answer:
    """Send `raw`, read the first response (by its Content-Length), then up to `linger` seconds more: anything else
    the server sends (a second, smuggled response) lands in `extra`; `closed` when the server closed the socket."""
    start = time.monotonic()
    with socket.create_connection((host, port), timeout=timeout) as sock:
        try:
            sock.sendall(raw)
        except OSError:
            pass  # the server may refuse and close before reading everything
        data, closed = b"", False
        deadline = start + timeout
        while True:
            head, sep, rest = data.partition(b"\r\n\r\n")
            if sep:
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:]
                               if line.lower().startswith(b"content-length:")), 0)
                if len(rest) >= length:
                    break
            if time.monotonic() > deadline:
                break
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, socket.timeout):
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            data += chunk
        seconds = time.monotonic() - start
        head, _, rest = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")[1:]
                       if line.lower().startswith(b"content-length:")), len(rest))
        body, extra = rest[:length], rest[length:]
        if not closed:
            sock.settimeout(linger)
            try:
                while chunk := sock.recv(65536):
                    extra += chunk
                closed = True
            except (TimeoutError, socket.timeout):
                pass
            except ConnectionResetError:
                closed = True
    return Answer(status, body, closed, seconds, extra)


def is_v2(raw: bytes) -> bool:
    target = raw.split(b" ", 2)[1] if raw.count(b" ") >= 2 else b""
    return target == b"/v2" or target.startswith((b"/v2/", b"/v2?"))


def verdict(case: HttpCase, answer: Answer) -> str | None:
    """What is wrong with `answer` to `case`, or None."""
    if answer.status == 0:
        return None if case.expect == CLOSED or (case.closes and answer.closed) else "no answer, not closed"
    if answer.status not in case.expect:
        return f"HTTP {answer.status} instead of {sorted(case.expect)}: {answer.body[:160]!r}"
    try:
        error = json.loads(answer.body)["error"]
        if is_v2(case.raw):  # the Open Inference Protocol's error shape: {"error": "<message>"}
            ok = isinstance(error, str) and bool(error)
        else:
            ok = error["code"] == answer.status and isinstance(error["message"], str) and error["message"]
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        return f"not the error shape: {answer.body[:160]!r}"
    if case.closes and not answer.closed:
        return "the connection stayed open"
    if answer.extra.strip():
        return f"a second response followed: {answer.extra[:120]!r}"
    return None

"""The front door as served (uvicorn, the guarded protocol, the request guard) in front of a fake TorchServe: every
HTTP-level hostile case answered in the error shape or closed, slow clients cut off without holding a slot, the
allow-list, the OpenAPI description, the page's headers."""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from launcher.routes import PUBLIC_MODELS, route_table
from tests.hostile_http import build_http_corpus, materialise, send_raw, verdict
from tests.unit.conftest import BOUNDS, SETTINGS, error_of

PHOTO = (Path(__file__).resolve().parents[2].parent / "shared" / "data" / "street_photos" / "photos"
         / "0005.jpg")


@pytest.fixture(scope="module")
def photo() -> bytes:
    return PHOTO.read_bytes()[:200_000] if PHOTO.is_file() else b"\xff\xd8" + b"x" * 50_000


def test_every_http_case_is_refused_in_the_error_shape_or_closed(door, photo):
    problems = []
    for case in (c for c in build_http_corpus() if not c.upstream):
        answer = send_raw(door.host, door.port, materialise(case, photo), timeout=5)
        if (why := verdict(case, answer)) is not None:
            problems.append(f"{case.name}: {why}")
        if answer.seconds > 5:
            problems.append(f"{case.name}: answered after {answer.seconds:.1f} s")
        good = httpx.post(f"{door.url}/predictions/fashion", content=photo, timeout=5)
        if good.status_code != 200:
            problems.append(f"{case.name}: the good request after it got {good.status_code}")
    assert not problems, "\n".join(problems)


def test_a_smuggled_request_is_never_answered(door):
    raw = (b"POST /predictions/fashion HTTP/1.1\r\nHost: front\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n"
           b"\r\n0\r\n\r\nGET /frontdoor/stats HTTP/1.1\r\nHost: front\r\n\r\n")
    answer = send_raw(door.host, door.port, raw, timeout=5, linger=1.5)
    assert answer.status == 400 and answer.closed and b"HTTP/1.1" not in answer.extra


def test_a_pipelined_request_with_ambiguous_framing_is_not_parsed(door, photo):
    first = materialise(build_http_corpus()[0], photo).replace(b"/predictions/%2e%2e/api-description",
                                                               b"/predictions/fashion")
    second = (b"POST /predictions/fashion HTTP/1.1\r\nHost: front\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"
              b"hello")
    answer = send_raw(door.host, door.port, first + second, timeout=5, linger=1.5)
    assert answer.status == 200 and answer.closed and b"HTTP/1.1" not in answer.extra


def test_slow_headers_get_a_408_and_the_connection_closes(door):
    start = time.monotonic()
    with socket.create_connection((door.host, door.port), timeout=10) as sock:
        sock.sendall(b"POST /predictions/fashion HTTP/1.1\r\nHost: front\r\n")
        data = b""
        for _ in range(20):  # one header byte every 0.2 s: never finishes within the 1 s deadline
            try:
                sock.sendall(b"X")
            except OSError:
                break
            time.sleep(0.2)
        sock.settimeout(3)
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    assert data.startswith(b"HTTP/1.1 408") and b'"code": 408' in data, data[:200]
    assert time.monotonic() - start < BOUNDS.header_timeout_s + 4


def test_a_silent_connection_is_closed_after_the_head_deadline(door):
    with socket.create_connection((door.host, door.port), timeout=10) as sock:
        sock.settimeout(BOUNDS.header_timeout_s + 3)
        assert sock.recv(65536).startswith(b"HTTP/1.1 408")


def _slow_body(door, stop: threading.Event, results: list) -> None:
    with socket.create_connection((door.host, door.port), timeout=10) as sock:
        sock.sendall(b"POST /predictions/fashion HTTP/1.1\r\nHost: front\r\nContent-Type: image/jpeg\r\n"
                     b"Content-Length: 100000\r\n\r\n")
        data = b""
        sock.settimeout(0.25)
        while not stop.is_set():
            try:
                sock.sendall(b"x")
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                break
        results.append(data)


def test_slow_bodies_are_cut_off_with_408_and_never_hold_a_slot(door, photo):
    stop, results = threading.Event(), []
    clients = [threading.Thread(target=_slow_body, args=(door, stop, results))
               for _ in range(3 * SETTINGS.max_inflight)]
    for c in clients:
        c.start()
    time.sleep(0.3)
    try:  # more slow clients than in-flight slots: everyone else still gets in
        for _ in range(5):
            r = httpx.post(f"{door.url}/predictions/fashion", content=photo, timeout=5)
            assert r.status_code == 200, r.text
        time.sleep(BOUNDS.body_timeout_s + 1)
    finally:
        stop.set()
        for c in clients:
            c.join(timeout=10)
    assert len(results) == len(clients)
    assert all(d.startswith(b"HTTP/1.1 408") and b"BODY_TIMEOUT_S" in d for d in results), results[:2]


def test_only_public_models_are_served_and_the_rest_answers_404(door, photo):
    for model in PUBLIC_MODELS:
        assert httpx.post(f"{door.url}/predictions/{model}", content=photo, timeout=5).status_code == 200
    for path in ("/predictions/fashion__segmenter", "/predictions/nope", "/wfpredict/nope", "/api-description",
                 "/models", "/predictions/fashion/9.9"):
        r = httpx.post(door.url + path, content=photo, timeout=5)
        assert r.status_code == 404 and error_of(r)["message"], (path, r.text)


def test_openapi_is_written_from_the_route_table(door):
    r = httpx.get(door.url + "/openapi.json", timeout=5)
    spec = r.json()
    assert r.status_code == 200 and spec["openapi"].startswith("3.")
    assert set(spec["paths"]) == {route.path for route in route_table(SETTINGS)}
    predictions = spec["paths"]["/predictions/{model}"]["post"]["parameters"][0]["schema"]["enum"]
    assert sorted(predictions) == sorted(PUBLIC_MODELS)


def test_the_page_has_a_content_security_policy_and_nosniff(door):
    page = httpx.get(door.url + "/", timeout=5)
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    for name in ("app.js", "style.css"):
        r = httpx.get(f"{door.url}/web/{name}", timeout=5)
        assert r.status_code == 200 and r.headers["x-content-type-options"] == "nosniff"
    missing = httpx.get(door.url + "/web/index.html.bak", timeout=5)
    assert missing.status_code == 404 and error_of(missing)

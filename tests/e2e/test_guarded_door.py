"""The guarded door in front of a real TorchServe: the HTTP-level hostile corpus, every path of TorchServe's own
inference API tried through the door, 20 slow clients beside normal traffic, and the OpenAPI-driven fuzz; no 5xx,
the error shape everywhere, no answer slower than 5 s, no worker restarted."""
from __future__ import annotations

import os
import socket
import statistics
import threading
import time
from urllib.parse import urlsplit

import httpx

from fashion.models import WORKFLOW
from launcher.routes import PUBLIC_MODELS
from launcher.v2_protocol import V2_MODELS
from tests.fuzz import run_fuzz
from tests.hostile_http import build_http_corpus, materialise, send_raw, verdict

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_E2E_EXAMPLES", "150"))


def _front(server) -> tuple[str, int]:
    parts = urlsplit(server.inference)
    return parts.hostname or "127.0.0.1", parts.port or 80


def test_http_corpus_through_the_real_door(server, street_photos):
    photo = street_photos[2].read_bytes()
    host, port = _front(server)
    before = server.worker_pids()
    problems = []
    for case in build_http_corpus():
        answer = send_raw(host, port, materialise(case, photo), timeout=10)
        if (why := verdict(case, answer)) is not None:
            problems.append(f"{case.name}: {why}")
        if answer.seconds > 5:
            problems.append(f"{case.name}: answered after {answer.seconds:.1f} s")
        good = server.post("/predictions/fashion", content=photo, headers={"Content-Type": "image/jpeg"})
        if good.status_code != 200 or "garments" not in good.json():
            problems.append(f"{case.name}: the good request after it got {good.status_code}")
    assert not problems, "\n".join(problems)
    assert server.worker_pids() == before, "a worker restarted"


def test_torchserve_inference_api_is_reachable_only_through_the_public_routes(server, street_photos):
    """Every path TorchServe's inference API describes (its own /api-description, read on loopback), with every
    model and workflow node name, sent through the door: only the public models and the workflow answer (and the
    front door's own KServe v2 route, which TorchServe describes too: a bare photo there is v2's 400)."""
    description = httpx.request("OPTIONS", server.torchserve + "/", timeout=30).json()
    names = [*PUBLIC_MODELS, *(f"{WORKFLOW}__{m}" for m in ("segmenter", "embedder", "attributes")), "nope"]
    photo = street_photos[2].read_bytes()
    tried, problems = 0, []
    for template, item in description["paths"].items():
        for method in item:
            for name in names:
                path = (template.replace("{model_name}", name).replace("{model_version}", "1.0")
                        .replace("{workflow_name}", name))
                public = (path in (f"/predictions/{m}" for m in PUBLIC_MODELS) or path == f"/wfpredict/{WORKFLOW}"
                          or path == "/ping")
                r = server.http.request(method.upper(), server.inference + path, content=photo,
                                        headers={"Content-Type": "image/jpeg"})
                tried += 1
                if path in (f"/v2/models/{m}/infer" for m in V2_MODELS) and method.upper() == "POST":
                    # the front door's own KServe v2 route (launcher.v2_route): a bare photo is no v2 request
                    if r.status_code != 400 or not isinstance(r.json().get("error"), str):
                        problems.append(f"{method} {path}: {r.status_code} {r.text[:100]}, not v2's 400")
                    continue
                if public and r.status_code != 200 and method.upper() in ("POST", "GET"):
                    problems.append(f"{method} {path}: public but {r.status_code}")
                if not public and r.status_code not in (404, 405) and r.status_code < 500:
                    if not (path.startswith("/predictions/") and path.split("/")[2] in PUBLIC_MODELS):
                        problems.append(f"{method} {path}: reachable ({r.status_code})")
                if r.status_code >= 500:
                    problems.append(f"{method} {path}: {r.status_code}")
                if r.status_code >= 400 and method.upper() != "HEAD" and "error" not in r.json():
                    problems.append(f"{method} {path}: not the error shape: {r.text[:100]}")
    print(f"{tried} TorchServe inference paths tried through the door")
    assert tried > 20 and not problems, "\n".join(problems)


def _slow_client(host: str, port: int, stop: threading.Event, path: str) -> None:
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: front\r\nContent-Type: image/jpeg\r\n".encode()
                     + b"Content-Length: 1000000\r\n\r\n")
        while not stop.wait(1.0):
            try:
                sock.sendall(b"x")  # one byte a second
            except OSError:
                return


def _latencies(server, photo: bytes, n: int) -> tuple[list[float], list[float]]:
    predict, search = [], []
    for _ in range(n):
        start = time.monotonic()
        r = server.post("/predictions/fashion", content=photo, headers={"Content-Type": "image/jpeg"})
        assert r.status_code == 200, r.text[:200]
        predict.append(time.monotonic() - start)
        start = time.monotonic()
        r = server.post("/search", json={"text": "red dress", "k": 3})
        assert r.status_code == 200, r.text[:200]
        search.append(time.monotonic() - start)
    return predict, search


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def test_twenty_slow_clients_do_not_slow_anyone_else(server, street_photos):
    photo = street_photos[3].read_bytes()
    host, port = _front(server)
    _latencies(server, photo, 2)  # warm
    unloaded = _latencies(server, photo, 10)
    stop = threading.Event()
    paths = ("/predictions/fashion", "/v2/models/fashion/infer")  # half on each: the REST and the KServe v2 route
    clients = [threading.Thread(target=_slow_client, args=(host, port, stop, paths[i % 2]), daemon=True)
               for i in range(20)]
    for c in clients:
        c.start()
    time.sleep(2)
    try:
        loaded, deadline = ([], []), time.monotonic() + 18
        while time.monotonic() < deadline:
            p, s = _latencies(server, photo, 1)
            loaded[0].extend(p)
            loaded[1].extend(s)
    finally:
        stop.set()
        for c in clients:
            c.join(timeout=5)
    for name, before, during in (("predictions", unloaded[0], loaded[0]), ("search", unloaded[1], loaded[1])):
        print(f"{name}: p95 unloaded {_p95(before) * 1000:.0f} ms, with 20 slow clients {_p95(during) * 1000:.0f} ms "
              f"({len(during)} requests)")
        assert _p95(during) <= 2 * _p95(before) + 0.05, name


def test_fuzz_through_the_real_door(server, street_photos):
    before = server.worker_pids()
    with httpx.Client(base_url=server.inference, timeout=30) as client:
        found, seconds = run_fuzz(client, street_photos[2].read_bytes(), FUZZ_EXAMPLES)
    print(f"fuzz through the real door: {FUZZ_EXAMPLES} examples in {seconds:.1f} s, {len(found)} problems")
    assert not found, "\n".join(found[:20])
    assert server.worker_pids() == before, "a worker restarted"

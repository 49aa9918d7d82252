"""Every hostile input to every endpoint, through the front door to a real TorchServe: never a 5xx, every refusal
a JSON error in the one error shape that says what is wrong with its code as the HTTP status (on /wfpredict too),
no answer slower than 5 s, no worker restarted, and a good request after each one answered correctly."""
from __future__ import annotations

import time

import pytest

from tests.hostile import build_corpus

ENDPOINTS = {  # endpoint -> the key a good answer has
    "/wfpredict/fashion": "garments", "/predictions/fashion": "garments", "/predictions/segmenter": "garments",
    "/predictions/embedder": "embedding", "/predictions/attributes": "metadata"}


@pytest.fixture(scope="module")
def corpus(street_photos):
    return build_corpus(street_photos[2].read_bytes())


class NotJSON(Exception):
    pass


def _error(r, case) -> dict | None:
    try:
        body = r.json()
    except ValueError:
        raise NotJSON(f"not JSON: HTTP {r.status_code} {r.text[:200]!r}") from None
    if isinstance(body, dict) and "error" in body:
        return body["error"]
    return None


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_hostile_inputs(server, corpus, street_photos, endpoint):
    good = street_photos[2].read_bytes()
    before = server.worker_pids()
    problems = []
    for case in corpus:
        start = time.monotonic()
        r = server.post(endpoint, content=case.body, headers={"Content-Type": case.content_type})
        seconds = time.monotonic() - start
        verdict = f"answered after {seconds:.1f} s" if seconds > 5 else None
        try:
            error = _error(r, case)
        except NotJSON as exc:
            error, verdict = None, str(exc)
        if verdict:
            pass
        elif r.status_code >= 500:
            verdict = f"HTTP {r.status_code}"
        elif case.expect == "refused":
            if error is None or not error.get("message") or not 400 <= error["code"] < 500:
                verdict = f"not refused: HTTP {r.status_code} {r.text[:120]}"
            elif case.code and error["code"] != case.code:
                verdict = f"code {error['code']} instead of {case.code}: {error['message'][:80]}"
            elif r.status_code != error["code"]:
                verdict = f"status {r.status_code} but error code {error['code']}"
        elif case.expect == "accepted" and (r.status_code != 200 or error is not None):
            verdict = f"not accepted: HTTP {r.status_code} {r.text[:120]}"
        after = server.post(endpoint, content=good, headers={"Content-Type": "image/jpeg"})
        if after.status_code != 200 or ENDPOINTS[endpoint] not in after.json():
            verdict = (verdict or "") + f"; the good request after it failed: HTTP {after.status_code}"
        if verdict:
            problems.append(f"{case.name}: {verdict}")
    assert not problems, "\n".join(problems)
    assert server.worker_pids() == before, "a worker restarted"

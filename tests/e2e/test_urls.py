"""Image URLs on a real TorchServe: fetched from the one allowed host, every SSRF attempt refused."""
from __future__ import annotations

import pytest

from tests.compare import assert_same_response

ENDPOINTS = ["/wfpredict/fashion", "/predictions/fashion"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_url_input_equals_the_uploaded_bytes(server, endpoint):
    fetched = server.post(endpoint, json={"url": f"{server.image_host}/photo.jpg"})
    assert fetched.status_code == 200, fetched.text[:300]
    uploaded = server.post(endpoint, content=_photo())
    assert_same_response(fetched.json(), uploaded.json())


@pytest.mark.parametrize("path,code,words", [
    ("/to-metadata", 400, "public addresses"), ("/to-loopback", 400, "public addresses"),
    ("/missing.jpg", 422, "HTTP 404")])
def test_refused_urls_and_redirects(server, path, code, words):
    r = server.post("/predictions/fashion", json={"url": f"{server.image_host}{path}"})
    assert r.status_code == code and words in r.json()["error"]["message"]


def test_a_bad_url_in_a_batch_leaves_its_neighbours(server):
    batch = server.post("/wfpredict/fashion", json={"images": [
        {"url": f"{server.image_host}/photo.jpg"}, {"url": "http://10.0.0.1/x.jpg"},
        {"url": "http://[::1]/x.jpg"}]}).json()
    assert "garments" in batch[0]
    assert batch[1]["error"]["code"] == 400 and batch[2]["error"]["code"] == 400


def _photo() -> bytes:
    from tests.conftest import STREET
    return (STREET / "0005.jpg").read_bytes()

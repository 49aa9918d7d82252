"""The front door in front of a real TorchServe: raw bodies whatever their Content-Type (what curl --data-binary,
curl -T and urllib send), real status codes on /wfpredict, and overload answered with fast 503s, never a 500."""
from __future__ import annotations

import base64
import urllib.request

import pytest

from bench.load import run_load

ENDPOINTS = ["/wfpredict/fashion", "/predictions/fashion"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_raw_photo_is_accepted_whatever_its_content_type(server, street_photos, endpoint):
    photo = street_photos[4].read_bytes()
    for content_type in ("application/x-www-form-urlencoded", "application/octet-stream", "image/jpeg", None):
        headers = {"Content-Type": content_type} if content_type else {}
        r = server.post(endpoint, content=photo, headers=headers)
        assert r.status_code == 200 and "garments" in r.json(), (content_type, r.text[:200])
    put = server.http.put(server.inference + endpoint, content=photo)  # curl -T
    assert put.status_code == 200 and "garments" in put.json()
    with urllib.request.urlopen(urllib.request.Request(server.inference + endpoint, data=photo), timeout=120) as r:
        assert r.status == 200  # urllib sends application/x-www-form-urlencoded
    form = server.post(endpoint, files={"data": ("photo.jpg", photo, "image/jpeg")})
    assert form.status_code == 200 and "garments" in form.json()
    as_json = server.post(endpoint, json={"b64": base64.b64encode(photo).decode(), "mask_format": "none"})
    assert as_json.status_code == 200 and "garments" in as_json.json()
    for content_type in ("application/x-www-form-urlencoded", "text/plain"):
        r = server.post(endpoint, content=b"this is not an image", headers={"Content-Type": content_type})
        assert r.status_code == 415 and r.json()["error"]["code"] == 415


def test_a_batch_with_a_bad_item_answers_200_with_the_error_in_its_place(server, street_photos):
    photo = base64.b64encode(street_photos[4].read_bytes()).decode()
    r = server.post("/wfpredict/fashion", json={"images": [{"b64": photo}, {"b64": "%%%"}], "mask_format": "none"})
    assert r.status_code == 200
    good, bad = r.json()
    assert "garments" in good and bad["error"]["code"] == 400


def test_overload_is_shed_fast_never_a_500(server, street_photos):
    photos = [p.read_bytes() for p in street_photos[:8]]
    result = run_load(server.inference + "/wfpredict/fashion", photos, clients=32, per_client=2,
                      honour_retry_after=True, timeout=120)
    statuses = set(result.statuses)
    answered = [t for s, t in zip(result.statuses, result.latencies) if s == 200]
    shed = [t for s, t in zip(result.statuses, result.latencies) if s == 503]
    print(f"32 clients: {len(answered)} answered (max {max(answered):.1f} s), {len(shed)} shed "
          f"(max {max(shed, default=0) * 1000:.0f} ms)")
    assert statuses <= {200, 503}, result.statuses
    assert answered, "nothing answered"
    assert max(shed, default=0) < 1.0, "a refusal was not fast"

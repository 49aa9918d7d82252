"""The front door driven as Vertex AI drives it (the session server runs with AIP_* routes that are not the
defaults): health polled until 200 (503 before), predictions with base64 and URL instances, too-large requests
refused with a clear 413, unknown routes 404, TorchServe's paths passed through, the client."""
from __future__ import annotations

import base64

import httpx

from client.__main__ import main as client_main


def test_health_was_503_until_the_pipeline_answered(server):
    assert 503 in server.health_seen and server.health_seen[-1] == 200, server.health_seen
    assert server.health_seen.index(200) == len(server.health_seen) - 1
    assert httpx.get(server.health, timeout=10).status_code == 200


def test_vertex_predict_route(server, image_host, street_photos, capsys, tmp_path):
    photo = street_photos[0].read_bytes()
    r = httpx.post(server.predict, timeout=300, json={
        "instances": [{"b64": base64.b64encode(photo).decode()}, {"url": f"{image_host}/photo.jpg"}],
        "parameters": {"mask_format": "none"}})
    assert r.status_code == 200, r.text[:300]
    predictions = r.json()["predictions"]
    assert len(predictions) == 2 and all("garments" in p and "metadata" in p for p in predictions)
    too_big = httpx.post(server.predict, timeout=60, json={"instances": [{"b64": "A" * 1_600_000}]})
    assert too_big.status_code == 413 and "dedicated endpoint" in too_big.json()["error"]["message"]
    bad = httpx.post(server.predict, timeout=60, json={"instances": [{"b64": "%%%"}], "parameters": {"bogus": 1}})
    assert bad.status_code == 400 and "bogus" in bad.json()["error"]["message"]
    assert httpx.post(server.inference + "/elsewhere", json={}, timeout=30).status_code == 404
    photo_file = tmp_path / "photo.jpg"
    photo_file.write_bytes(photo)  # the client shrinks only when it must
    assert client_main([server.predict, str(photo_file), "--parameters", '{"embedding_only": true}']) == 0
    assert '"predictions"' in capsys.readouterr().out

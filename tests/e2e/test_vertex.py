"""The Vertex AI entrypoint outside Docker, driven as Vertex drives it: AIP_* variables, health polling, then
predictions with base64 and URL instances; too-large requests refused with a clear 413; SIGTERM stops it."""
from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time

import httpx

from client.__main__ import main as client_main
from launcher import torchserve as ts
from tests.conftest import ROOT, STORE


def test_vertex_entrypoint(tmp_path, image_host, street_photos, capsys):
    port = ts.free_port()
    config, _ = ts.spare_config(ROOT / "config.properties", tmp_path / "config.properties")
    env = {**os.environ, "TMPDIR": str(tmp_path), "AIP_HTTP_PORT": str(port),
           "AIP_PREDICT_ROUTE": "/v1/endpoints/fashion/deployedModels/m1:predict", "AIP_HEALTH_ROUTE": "/v1/health",
           "FASHION_URL_INPUT": "on", "FASHION_URL_ALLOW_NETWORKS": "127.0.0.2/32",
           "FASHION_URL_PORTS": image_host.rsplit(":", 1)[1]}
    base = f"http://127.0.0.1:{port}"
    predict, health = base + env["AIP_PREDICT_ROUTE"], base + env["AIP_HEALTH_ROUTE"]
    with open(tmp_path / "console.txt", "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "launcher", "vertex", "--config", str(config), "--store",
                                 str(STORE), "--logs", str(tmp_path / "logs")], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        seen = set()
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:  # Vertex polls the health route until it answers 200
            try:
                status = httpx.get(health, timeout=10).status_code
            except httpx.HTTPError:
                status = None
            seen.add(status)
            if status == 200:
                break
            assert proc.poll() is None, (tmp_path / "console.txt").read_text(errors="replace")[-3000:]
            time.sleep(2)
        assert 200 in seen and 503 in seen, seen  # not healthy before the pipeline answers
        photo = street_photos[0].read_bytes()
        r = httpx.post(predict, timeout=300, json={
            "instances": [{"b64": base64.b64encode(photo).decode()}, {"url": f"{image_host}/photo.jpg"}],
            "parameters": {"mask_format": "none"}})
        assert r.status_code == 200, r.text[:300]
        predictions = r.json()["predictions"]
        assert len(predictions) == 2 and all("garments" in p and "metadata" in p for p in predictions)
        too_big = httpx.post(predict, timeout=60, json={"instances": [{"b64": "A" * 1_600_000}]})
        assert too_big.status_code == 413 and "dedicated endpoint" in too_big.json()["error"]["message"]
        assert httpx.post(base + "/elsewhere", json={}, timeout=30).status_code == 404
        passthrough = httpx.post(base + "/wfpredict/fashion", content=photo, timeout=300)
        assert passthrough.status_code == 200 and "garments" in passthrough.json()
        big_photo = tmp_path / "big.jpg"
        big_photo.write_bytes(photo * 1)  # the client shrinks only when it must
        assert client_main([predict, str(big_photo), "--parameters", '{"embedding_only": true}']) == 0
        assert '"predictions"' in capsys.readouterr().out
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)

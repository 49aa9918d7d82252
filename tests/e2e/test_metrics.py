"""Our handlers' custom metrics reach TorchServe's Prometheus endpoint."""
from __future__ import annotations

import re
import time

import httpx


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_stage_times_images_garments_and_errors_on_prometheus(server, street_photos):
    assert server.post("/predictions/fashion", content=street_photos[1].read_bytes()).status_code == 200
    assert server.post("/predictions/fashion", content=b"not an image").status_code == 415
    assert server.post("/wfpredict/fashion", content=street_photos[1].read_bytes()).status_code == 200
    deadline, text = time.monotonic() + 30, ""
    while time.monotonic() < deadline:  # the frontend collects backend metrics asynchronously
        text = httpx.get(f"{server.metrics}/metrics", timeout=10).text
        if _metric(text, "FashionErrors", Code="415") >= 1 and "fashion__embedder" in text:
            break
        time.sleep(1)
    for node in ("fashion", "fashion__segmenter", "fashion__attributes", "fashion__embedder"):
        assert re.search(rf'FashionStageTime{{[^}}]*ModelName="{node}"[^}}]*Phase="predict"', text) or \
            re.search(rf'FashionStageTime{{[^}}]*Phase="predict"[^}}]*ModelName="{node}"', text), node
    assert _metric(text, "FashionImages", ModelName="fashion") >= 1
    assert _metric(text, "FashionErrors", Code="415") >= 1
    assert "FashionGarments" in text

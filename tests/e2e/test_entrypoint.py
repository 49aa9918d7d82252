"""The image's start command outside Docker, as Vertex AI starts it with AIP_STORAGE_URI (a folder of archives):
health 503 until the pipeline answers, then 200; SIGTERM drains and stops everything within 10 s, no orphan."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx

from tests.conftest import STORE
from tests.e2e.conftest import front_door


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if text.encode() in (proc / "cmdline").read_bytes():
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


def test_storage_uri_start_and_sigterm(tmp_path, street_photos):
    with front_door(tmp_path, {"AIP_STORAGE_URI": str(STORE.resolve())}, store=tmp_path / "nowhere") as urls:
        assert 503 in urls["health_seen"], urls["health_seen"]
        photo = street_photos[0].read_bytes()
        r = httpx.post(urls["front"] + "/wfpredict/fashion", content=photo, timeout=120,
                       headers={"Content-Type": "application/x-www-form-urlencoded"})  # curl --data-binary
        assert r.status_code == 200 and "garments" in r.json()
        assert _processes_mentioning(str(tmp_path)), "TorchServe is not running from the work directory"
        proc = urls["proc"]
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        took = time.monotonic() - start
    assert code == 0 and took < 10, (code, took)
    time.sleep(1)
    assert not [p for p in _processes_mentioning(str(tmp_path)) if p != os.getpid()], "processes left running"
    assert "TorchServe stopped" in urls["console"].read_text(errors="replace")

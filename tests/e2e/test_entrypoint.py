"""The container's start command, run outside Docker: `python -m launcher serve --inference-address ...`."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx

from launcher import torchserve as ts
from fashion.samples import synthetic_jpeg
from tests.conftest import ROOT, STORE


def test_serve_entrypoint_registers_workflow_and_stops_on_sigterm(tmp_path, street_photos):
    config, urls = ts.spare_config(ROOT / "config.properties", tmp_path / "config.properties")
    inference = urls["inference"]
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    console = tmp_path / "console.txt"  # a file, not a pipe: TorchServe logs a lot to the console
    with open(console, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "launcher", "serve", "--config", str(config),
                                 "--store", str(STORE), "--logs", str(tmp_path / "logs"),
                                 "--inference-address", inference],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        ts.wait_until(lambda: ts.answers(inference, "/wfpredict/fashion", synthetic_jpeg()), 600, "the workflow")
        r = httpx.post(f"{inference}/wfpredict/fashion", content=street_photos[0].read_bytes(), timeout=120)
        assert r.status_code == 200 and "garments" in r.json()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    assert "TorchServe is up" in console.read_text(errors="replace")

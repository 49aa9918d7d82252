"""Token authorisation, when an operator turns it on (config.properties: drop disable_token_authorization):
every API refuses calls without the key TorchServe writes to key_file.json, and accepts them with it."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import time

import httpx

from launcher import torchserve as ts
from tests.conftest import ROOT, STORE, STREET


def test_token_authorisation_when_enabled(tmp_path):
    config, urls = ts.spare_config(ROOT / "config.properties", tmp_path / "config.properties", {
        "model_store": str(STORE.resolve()), "workflow_store": str(STORE.resolve()),
        "load_models": "segmenter=segmenter.mar", "disable_token_authorization": "false"})
    env_tmp = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(tmp_path)
    proc = ts.start(config, STORE, tmp_path / "logs", foreground=True, cwd=tmp_path)
    try:
        keys_file = tmp_path / "key_file.json"
        keys: dict = {}

        def keys_written() -> bool:
            # TorchServe creates the file before it writes it: wait for a whole document, not just the name.
            try:
                keys.update(json.loads(keys_file.read_text()))
            except (OSError, ValueError):
                return False
            return "inference" in keys and "management" in keys

        ts.wait_until(keys_written, 120, "key_file.json")
        inference = {"Authorization": f"Bearer {keys['inference']['key']}"}
        management = {"Authorization": f"Bearer {keys['management']['key']}"}
        http = httpx.Client(timeout=60)

        def ready() -> bool:
            try:
                r = http.get(f"{urls['management']}/models/segmenter", headers=management)
                return r.status_code == 200 and r.json()[0]["workers"][0]["status"] == "READY"
            except (httpx.HTTPError, LookupError):
                return False

        ts.wait_until(ready, 300, "the segmenter")
        photo = (STREET / "0005.jpg").read_bytes()
        assert http.post(f"{urls['inference']}/predictions/segmenter", content=photo).status_code in (400, 401)
        assert http.get(f"{urls['management']}/models").status_code in (400, 401)
        assert http.get(f"{urls['management']}/models", headers=inference).status_code in (400, 401)
        assert http.post(f"{urls['inference']}/predictions/segmenter", content=photo,
                         headers={"Authorization": "Bearer wrong"}).status_code in (400, 401)
        ok = http.post(f"{urls['inference']}/predictions/segmenter", content=photo, headers=inference)
        assert ok.status_code == 200 and "garments" in ok.json()
        assert http.get(f"{urls['management']}/models", headers=management).status_code == 200
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        time.sleep(0.5)
        if env_tmp is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = env_tmp

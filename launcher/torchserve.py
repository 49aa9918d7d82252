"""TorchServe lifecycle helpers shared by `make serve`, the Docker entrypoint and the e2e fixtures."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def torchserve_bin() -> str:
    exe = Path(sys.executable).with_name("torchserve")
    return str(exe) if exe.exists() else (shutil.which("torchserve") or "torchserve")


def _request(method: str, url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def start(config: Path, store: Path, log_dir: Path, foreground: bool = False) -> subprocess.Popen | None:
    """Start TorchServe. Background mode returns None (stop with `torchserve --stop`)."""
    env = {**os.environ, "LOG_LOCATION": str(log_dir), "METRICS_LOCATION": str(log_dir),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    log_dir.mkdir(parents=True, exist_ok=True)
    cmd = [torchserve_bin(), "--start", "--ncs", "--ts-config", str(config), "--model-store", str(store)]
    with open(log_dir / "torchserve.out", "ab") as out:
        if foreground:
            cmd.append("--foreground")
            return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        subprocess.run(cmd, env=env, check=True, stdout=out, stderr=subprocess.STDOUT)
    return None


def stop() -> None:
    subprocess.run([torchserve_bin(), "--stop"], check=False)


def wait_until(predicate, timeout: float, what: str, interval: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def models_ready(management: str, names: list[str]) -> bool:
    for name in names:
        status, body = _request("GET", f"{management}/models/{name}")
        if status != 200 or b'"READY"' not in body:
            return False
    return True


def register_workflow(management: str, war: str = "fashion.war", timeout: float = 600) -> str:
    """POST /workflows?url=<war in the store>; idempotent (an existing workflow is kept)."""
    status, body = _request("GET", f"{management}/workflows/fashion")
    if status == 200:
        return "already registered"
    query = urllib.parse.urlencode({"url": war})
    status, body = _request("POST", f"{management}/workflows?{query}", timeout=timeout)
    if status != 200:
        raise RuntimeError(f"registering {war} failed with {status}: {body.decode(errors='replace')}")
    return body.decode()


def answers(inference: str, path: str, image: bytes) -> bool:
    req = urllib.request.Request(f"{inference}{path}", data=image, method="POST",
                                 headers={"Content-Type": "image/jpeg"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return resp.status == 200 and b'"garments"' in resp.read()

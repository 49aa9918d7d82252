"""python -m bench.vertex_hop: what the Vertex adapter's extra hop costs, side by side in one run.

Starts the Vertex entrypoint (python -m launcher vertex) on spare ports, then alternates the same Vertex
request ({"instances": [one photo]}) sent to TorchServe directly and through the adapter; prints p50/p95.
"""
from __future__ import annotations

import base64
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.load import percentile
from launcher import torchserve as ts

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT.parent / "shared" / "data" / "street_photos" / "photos" / "0005.jpg"


def main(runs: int = 30) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        port = ts.free_port()
        config, _ = ts.spare_config(ROOT / "config.properties", tmp / "config.properties")
        env = {**os.environ, "TMPDIR": str(tmp), "AIP_HTTP_PORT": str(port), "AIP_PREDICT_ROUTE": "/predict",
               "AIP_HEALTH_ROUTE": "/health"}
        console = tmp / "console.txt"
        with open(console, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "launcher", "vertex", "--config", str(config),
                                     "--store", str(ROOT / "model_store"), "--logs", str(tmp / "logs")],
                                    cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            ts.wait_until(lambda: b"\nready" in console.read_bytes(), 900, "the Vertex entrypoint")
            direct = re.search(rb"-> TorchServe (\S+)", console.read_bytes()).group(1).decode()
            body = json.dumps({"instances": [{"b64": base64.b64encode(PHOTO.read_bytes()).decode()}]}).encode()
            times: dict[str, list[float]] = {"TorchServe directly": [], "through the adapter": []}
            with httpx.Client(timeout=300) as http:
                for i in range(runs * 2 + 2):
                    name, url = [("TorchServe directly", direct), ("through the adapter",
                                                                   f"http://127.0.0.1:{port}/predict")][i % 2]
                    start = time.perf_counter()
                    assert http.post(url, content=body, headers={"Content-Type": "application/json"}).status_code == 200
                    if i >= 2:  # the first pair warms both paths
                        times[name].append(time.perf_counter() - start)
            for name, t in times.items():
                print(f"{name:22s} p50 {statistics.median(t) * 1000:7.1f} ms  p95 {percentile(t, 95) * 1000:7.1f} ms")
            a, b = (statistics.median(t) for t in times.values())
            print(f"adapter hop: {1000 * (b - a):+.1f} ms at p50 ({b / a:.3f}x)")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())

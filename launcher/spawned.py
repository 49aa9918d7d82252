"""`python -m launcher serve` as a child process on spare ports (the e2e fixtures and the benchmarks use it)."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx

from launcher import settings
from launcher import torchserve as ts

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def spawned_front_door(workdir: Path, env: dict[str, str] | None = None, store: Path = ROOT / "model_store",
                       config: Path = ROOT / "config.properties", timeout: float = 900) -> Iterator[dict]:
    """The front door and its TorchServe with every port spare, bound to loopback; yields once the health route
    answers 200: its URLs (gRPC's host:port under "grpc", None when FASHION_GRPC_PORT=off), the statuses health
    answered before, the process and its console file."""
    config, urls = ts.spare_config(config, workdir / "config.properties", extra_ports=2)
    port, grpc_port = urls.pop("extra_ports").split(",")  # never one of TorchServe's
    env = {**os.environ, "TMPDIR": str(workdir), "FASHION_PORT": port, "FASHION_HOST": "127.0.0.1",
           "FASHION_GRPC_PORT": grpc_port, **(env or {})}
    if "AIP_HTTP_PORT" in env:
        env["AIP_HTTP_PORT"] = str(port)
    front = f"http://127.0.0.1:{port}"
    health = front + (env.get("AIP_HEALTH_ROUTE") or "/health")
    console = workdir / "console.txt"  # a file, not a pipe: TorchServe logs a lot to the console
    with open(console, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "launcher", "serve", "--config", str(config), "--store",
                                 str(store), "--logs", str(workdir / "logs")], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    seen: list[int | None] = []
    try:
        deadline = time.monotonic() + timeout
        while not seen or seen[-1] != 200:  # as Vertex AI does: poll the health route until it answers 200
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the front door did not become healthy:\n"
                                   + console.read_text(errors="replace")[-3000:])
            try:
                seen.append(httpx.get(health, timeout=10).status_code)
            except httpx.HTTPError:
                seen.append(None)
            time.sleep(1)
        grpc = settings.grpc_port(env["FASHION_GRPC_PORT"])
        yield {**urls, "front": front, "grpc": f"127.0.0.1:{grpc}" if grpc else None, "health": health,
               "logs": str(workdir / "logs"), "health_seen": seen,
               "proc": proc, "console": console}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)

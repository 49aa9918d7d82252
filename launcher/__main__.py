"""python -m launcher start|serve|stop|register|scale: the front door and TorchServe with this repository's config.

start: `make serve`: `serve` in the background (log in logs/serve.out, pid in logs/serve.pid), waits until ready.
serve: the front door and TorchServe in the foreground (the Docker image's CMD; `vertex` is the same).
stop:  SIGTERM to what `start` started (it drains, then stops TorchServe).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from fashion import models as registry
from launcher import torchserve as ts
from launcher.settings import FrontDoorSettings



def _front_door(settings: FrontDoorSettings) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    return f"http://{host}:{settings.port}"


def _grpc_note(settings: FrontDoorSettings) -> str:
    port = settings.grpc_port
    return f", over gRPC on {settings.host}:{port}" if port else " (gRPC off: FASHION_GRPC_PORT=off)"


def _catalogue_note(settings: FrontDoorSettings) -> str:
    """What the page's similar products will search (FASHION_INDEX, else AIP_STORAGE_URI, as the server reads)."""
    folder = settings.index_dir or settings.storage_uri
    if folder:
        return f"similar products from the catalogue index in {folder}; POST /search"
    return "no catalogue index: `make demo-index`, or FASHION_INDEX=FOLDER, gives it similar products"


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def start(args: argparse.Namespace) -> int:
    """`serve` in the background; returns once its health route answers 200 (or it died)."""
    settings = FrontDoorSettings.from_env()
    front = _front_door(settings)
    health = front + settings.health_route
    if _healthy(health):
        print(f"already serving at {front}")
        return 0
    args.logs.mkdir(parents=True, exist_ok=True)
    with open(args.logs / "serve.out", "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "launcher", "serve", "--config", str(args.config),
                                 "--store", str(args.store), "--logs", str(args.logs)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    (args.logs / "serve.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + args.timeout
    while not _healthy(health):
        if proc.poll() is not None:
            print(f"the server exited with code {proc.returncode}; see {args.logs / 'serve.out'}", file=sys.stderr)
            return 1
        if time.monotonic() > deadline:
            print(f"not ready after {args.timeout:.0f}s; see {args.logs / 'serve.out'}", file=sys.stderr)
            return 1
        time.sleep(1)
    print(f"""
Serving at {front} (TorchServe behind it on loopback; management {ts.read_config(args.config)['management_address']}).
  curl --data-binary @photo.jpg {front}{registry.WORKFLOW_PATH}     # the workflow (curl -T works too)
  curl --data-binary @photo.jpg {front}{registry.ENSEMBLE_PATH}   # the in-process ensemble, same JSON
  curl -T photo.jpg {front}/predictions/segmenter             # or embedder, attributes
  curl -H 'Content-Type: application/json' -d '{{"text": ["red dress"]}}' {front}/predictions/embedder
KServe v2 (tritonclient, KServe): {front}/v2/models/fashion/infer{_grpc_note(settings)}.
The web page: {front}/ ({_catalogue_note(settings)}).
Stop it with `make stop`. Logs: {args.logs}/.""")
    return 0


def stop(args: argparse.Namespace) -> int:
    pid_file = args.logs / "serve.pid"
    pid = int(pid_file.read_text()) if pid_file.is_file() else None
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            for _ in range(60):  # it drains, then stops TorchServe
                os.kill(pid, 0)
                time.sleep(0.5)
            print(f"server {pid} did not stop in 30 s; killing it", file=sys.stderr)
            os.kill(pid, signal.SIGKILL)
        pid_file.unlink(missing_ok=True)
        print("stopped")
        return 0
    ts.stop()  # a TorchServe started some other way
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m launcher")
    p.add_argument("action", choices=["start", "serve", "vertex", "stop", "register", "scale"],
                   help="start: background (make serve); serve (= vertex): foreground, the container's CMD; "
                        "stop: what start started; register: the workflow; scale: set --model's workers")
    p.add_argument("--model", help="scale: a model or workflow node, e.g. fashion__segmenter")
    p.add_argument("--workers", type=int, help="scale: the worker count")
    p.add_argument("--config", default="config.properties", type=Path)
    p.add_argument("--store", default="model_store", type=Path)
    p.add_argument("--logs", default="logs", type=Path)
    p.add_argument("--timeout", default=900, type=float)
    args = p.parse_args(argv)
    management = ts.read_config(args.config)["management_address"].strip()
    if args.action == "stop":
        return stop(args)
    if args.action == "scale":
        if not args.model or args.workers is None or args.workers < 0:
            print("scale needs --model NAME --workers N (N >= 0)", file=sys.stderr)
            return 2
        workers = ts.scale(management, args.model, args.workers, args.timeout)
        for w in workers:
            print(f"{args.model}: worker {w['id']} pid {w['pid']} {w['status']}")
        return 0
    if args.action == "register":
        print(ts.register_workflow(management))
        return 0
    if not os.environ.get("AIP_STORAGE_URI"):
        missing = [f"{m}.mar" for m in registry.SERVED if not (args.store / f"{m}.mar").is_file()]
        missing += [] if (args.store / registry.WORKFLOW_ARCHIVE).is_file() else [registry.WORKFLOW_ARCHIVE]
        if missing:
            print(f"{missing} missing in {args.store}: run `make archives` first", file=sys.stderr)
            return 2
    if args.action == "start":
        return start(args)
    from launcher import serve
    return serve.run(args.config, args.store, args.logs, args.timeout)


if __name__ == "__main__":
    sys.exit(main())

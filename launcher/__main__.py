"""python -m launcher start|stop|register: run TorchServe with this repository's config."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
from pathlib import Path

from fashion.samples import synthetic_jpeg
from launcher import torchserve as ts

MODELS = ts.SERVED_MODELS


def _addresses(config: Path) -> tuple[str, str]:
    settings = ts.read_config(config)
    return settings["inference_address"].strip(), settings["management_address"].strip()


def ready(config: Path, timeout: float) -> None:
    inference, management = _addresses(config)
    ts.wait_until(lambda: ts.models_ready(management, MODELS), timeout, f"models {MODELS} at {management}")
    print(ts.register_workflow(management))
    ts.wait_until(lambda: ts.answers(inference, "/wfpredict/fashion", synthetic_jpeg()), timeout,
                  "the workflow to answer")
    print(f"""
TorchServe is up (inference {inference}, management {management}).
  curl -T photo.jpg {inference}/wfpredict/fashion         # the workflow
  curl -T photo.jpg {inference}/predictions/fashion       # the in-process ensemble
  curl -T photo.jpg {inference}/predictions/segmenter     # or embedder, attributes
  curl -H 'Content-Type: application/json' -d '{{"text": ["red dress"]}}' {inference}/predictions/embedder
Stop it with `make stop`. Logs: logs/.""")


def serve(args: argparse.Namespace) -> int:
    """Foreground, for containers: TorchServe's output on ours, workflow registered, exit with TorchServe."""
    config = args.config
    if args.inference_address:
        workdir = Path(tempfile.mkdtemp(prefix="fashion-serve-"))
        store = str(args.store.resolve())
        config = ts.derive_config(args.config, workdir / "config.properties", {
            "inference_address": args.inference_address, "model_store": store, "workflow_store": store})
    proc = ts.start(config, args.store, args.logs, foreground=True, console=True)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: os.killpg(proc.pid, signal.SIGTERM))
    try:
        ready(config, args.timeout)
    except Exception as exc:
        print(f"start-up failed: {exc}", file=sys.stderr)
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
        return 1
    return proc.wait()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m launcher")
    p.add_argument("action", choices=["start", "serve", "vertex", "stop", "register", "scale"],
                   help="start: background (make serve); serve: foreground (containers); vertex: the Vertex AI "
                        "entrypoint (AIP_* routes); register: the workflow; scale: set --model's workers")
    p.add_argument("--model", help="scale: a model or workflow node, e.g. fashion__segmenter")
    p.add_argument("--workers", type=int, help="scale: the worker count")
    p.add_argument("--inference-address", help="override config.properties, e.g. http://0.0.0.0:8080 in a container")
    p.add_argument("--config", default="config.properties", type=Path)
    p.add_argument("--store", default="model_store", type=Path)
    p.add_argument("--logs", default="logs", type=Path)
    p.add_argument("--timeout", default=600, type=float)
    args = p.parse_args(argv)
    if args.action == "stop":
        ts.stop()
        return 0
    if args.action == "scale":
        if not args.model or args.workers is None or args.workers < 0:
            print("scale needs --model NAME --workers N (N >= 0)", file=sys.stderr)
            return 2
        workers = ts.scale(_addresses(args.config)[1], args.model, args.workers, args.timeout)
        for w in workers:
            print(f"{args.model}: worker {w['id']} pid {w['pid']} {w['status']}")
        return 0
    if args.action in ("start", "serve", "vertex") and not os.environ.get("AIP_STORAGE_URI"):
        missing = [f"{m}.mar" for m in MODELS if not (args.store / f"{m}.mar").is_file()]
        missing += [] if (args.store / "fashion.war").is_file() else ["fashion.war"]
        if missing:
            print(f"{missing} missing in {args.store}: run `make archives` first", file=sys.stderr)
            return 2
    if args.action == "serve":
        return serve(args)
    if args.action == "vertex":
        from launcher import vertex
        return vertex.run(args.config, args.store, args.logs, args.timeout)
    if args.action == "start":
        inference, _ = _addresses(args.config)
        if ts.pings(inference):
            print(f"TorchServe already answers at {inference}; checking its models and workflow")
        else:
            ts.start(args.config, args.store, args.logs)
    ready(args.config, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())

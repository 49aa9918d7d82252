"""python -m launcher start|stop|register: run TorchServe with this repository's config."""
from __future__ import annotations

import argparse
import io
import re
import sys
from pathlib import Path

from launcher import torchserve as ts

MODELS = ["segmenter", "embedder", "attributes", "fashion"]


def _addresses(config: Path) -> tuple[str, str]:
    text = config.read_text()
    find = lambda key: re.search(rf"^{key}=(\S+)", text, re.M).group(1)  # noqa: E731
    return find("inference_address"), find("management_address")


def probe_image() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 96), (90, 60, 140)).save(buf, format="JPEG")
    return buf.getvalue()


def ready(config: Path, timeout: float) -> None:
    inference, management = _addresses(config)
    ts.wait_until(lambda: ts.models_ready(management, MODELS), timeout, f"models {MODELS} at {management}")
    print(ts.register_workflow(management))
    ts.wait_until(lambda: ts.answers(inference, "/wfpredict/fashion", probe_image()), timeout,
                  "the workflow to answer")
    print(f"""
TorchServe is up (inference {inference}, management {management}).
  curl -T photo.jpg {inference}/wfpredict/fashion         # the workflow
  curl -T photo.jpg {inference}/predictions/fashion       # the in-process ensemble
  curl -T photo.jpg {inference}/predictions/segmenter     # or embedder, attributes
  curl -H 'Content-Type: application/json' -d '{{"text": ["red dress"]}}' {inference}/predictions/embedder
Stop it with `make stop`. Logs: logs/.""")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m launcher")
    p.add_argument("action", choices=["start", "stop", "register"])
    p.add_argument("--config", default="config.properties", type=Path)
    p.add_argument("--store", default="model_store", type=Path)
    p.add_argument("--logs", default="logs", type=Path)
    p.add_argument("--timeout", default=600, type=float)
    args = p.parse_args(argv)
    if args.action == "stop":
        ts.stop()
        return 0
    if args.action == "start":
        missing = [m for m in [*MODELS, "fashion"] if not any(args.store.glob(f"{m}.[mw]ar"))]
        if missing or not (args.store / "fashion.war").exists():
            print(f"archives missing in {args.store}: run `make archives` first", file=sys.stderr)
            return 2
        ts.start(args.config, args.store, args.logs)
    ready(args.config, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())

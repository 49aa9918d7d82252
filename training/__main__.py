"""CLI: python -m training COMMAND: the attribute model (train, evaluate), the embedder (embedder,
evaluate-embedder, compare-embedders) and the segmenter (segmenter-data, segmenter, evaluate-segmenter).

`make train-attributes`, `make train-embedder`, `make train-segmenter`; see the README's training sections."""
from __future__ import annotations

import argparse
import logging
import os
import sys

import torch

from training.cli import attributes, embedder, prompt, segmenter, worn

log = logging.getLogger("training")
GROUPS = (attributes, embedder, segmenter, prompt, worn)  # each adds its commands (training/cli/)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    log.setLevel(logging.INFO)  # ours; open_clip logs every step of model creation on the root logger
    torch.set_num_threads(int(os.environ.get("FASHION_TORCH_THREADS", os.cpu_count() or 1)))
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())

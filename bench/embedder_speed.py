"""python -m bench.embedder_speed: our embedder against ViT-B-32, same backends, same real crops, one run.

Each architecture is exported per backend (each artifact checked against its eager model, as export does) and
timed in this process on the same street photos at batch 1 (a whole image) and batch 8 (garment crops go
through the embedder as one batch: ms per crop). Prints one table and the speed-up per backend.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

import torch

from bench.backends import ROOT, Timing, measure
from bench.photos import DEFAULT_PHOTOS, load_photos, machine_line, pick_photos
from export._trace import quiet_onnx_logs
from fashion.nets.embedder_model import ARCHITECTURE

BASELINE = "ViT-B-32"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.embedder_speed", description=__doc__)
    p.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    p.add_argument("--work", type=Path, default=ROOT / "build" / "bench" / "embedder_speed")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--backends", nargs="+", default=["torchscript", "openvino"])
    p.add_argument("--models", nargs="+", default=[ARCHITECTURE, BASELINE])
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "embedder_speed.json")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    quiet_onnx_logs()
    images = [pil for _, pil in load_photos(pick_photos(args.photos, 8))]
    weights_dir = os.environ.get("WEIGHTS_DIR") or None
    rows: dict[tuple[str, str], Timing] = {}
    for backend in args.backends:  # the architectures alternate per backend, so drift hits both alike
        for model in args.models:
            rows[model, backend] = measure("embedder", backend, args.work / model, images, args.runs,
                                           torch.device("cpu"), weights_dir=weights_dir, checkpoint=None,
                                           clip_model=model)
    lines = [machine_line(), f"torch threads {torch.get_num_threads()}; {len(images)} photos from {args.photos}", "",
             "| architecture | backend | ms/img batch 1 | ms/crop batch 8 | parity vs eager | artifact MB |",
             "|---|---|---:|---:|---|---:|"]
    for (model, backend), r in rows.items():
        if r.ok:
            parity = ", ".join(f"{k} {v}" for k, v in r.parity.items())
            lines.append(f"| {model} | {backend} | {r.ms_batch1:.1f} | {r.ms_batch8:.1f} | {parity} | "
                         f"{r.size_mb:.0f} |")
        else:
            lines.append(f"| {model} | {backend} | - | - | failed: {r.error} | - |")
    lines.append("")
    ours, base = args.models[0], args.models[-1]
    for backend in args.backends:
        a, b = rows.get((ours, backend)), rows.get((base, backend))
        if a and b and a.ok and b.ok:
            lines.append(f"{backend}: {ours} is {b.ms_batch1 / a.ms_batch1:.2f}x faster than {base} at batch 1, "
                         f"{b.ms_batch8 / a.ms_batch8:.2f}x per crop at batch 8")
    print("\n".join(lines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine_line(), "table": lines,
                                    "rows": [{"model": m, **vars(r)} for (m, _), r in rows.items()]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

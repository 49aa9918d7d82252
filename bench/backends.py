"""python -m bench backends: every model on every backend, side by side; writes export/backends.json.

Each model is exported once per backend (the exporters check each artifact against the eager model: mask
IoU, cosine, same top-1 and the largest probability difference), then timed in this process on the real
inputs of street photos at batch 1 and batch 8. The CPU default per model is the fastest backend at batch 1
(what a single request pays) among those that passed their check; export/backends.json records it.
With --device cuda it compares TorchScript fp32 and fp16 on the GPU (and ONNX Runtime when its CUDA provider
is installed) and only prints: CUDA archives use TorchScript fp16 (export --target cuda).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import statistics
import time
import traceback
from pathlib import Path
from typing import Callable

import torch

from bench.photos import DEFAULT_PHOTOS, load_photos, machine_line, pick_photos
from export._trace import quiet_onnx_logs
from export.choice import CHOICE_FILE, update_choice
from fashion.models import NAMES
from fashion import models as registry
from fashion.backends import BACKENDS
from fashion.manifest import load_artifact

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("bench")


@dataclasses.dataclass
class Timing:
    model: str
    backend: str
    ok: bool
    ms_batch1: float | None = None  # median ms per image
    ms_batch8: float | None = None
    parity: dict | None = None
    export_s: float | None = None
    size_mb: float | None = None
    error: str | None = None


def median_ms(fn: Callable[[], object], runs: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def export_one(model: str, backend: str, precision: str, out: Path, check_image, weights_dir: str | None,
               checkpoint: str | None, clip_model: str | None = None) -> None:
    from export.options import ExportOptions

    options = ExportOptions(weights_dir=weights_dir, attributes_checkpoint=checkpoint, text=False,
                            **({"clip_model": clip_model} if clip_model else {}))
    registry.spec(model).exporter_module().export_with(out, check_image, options, backend, precision)


def model_inputs(model: str, directory: Path, images: list, device: torch.device) -> tuple[Callable, torch.Tensor]:
    """(the runner, a batch of 8 real inputs preprocessed the way the pipeline does)."""
    runner, manifest = load_artifact(directory, model, device)
    stage = registry.spec(model).runtime_class()(runner, manifest, device)
    batch = stage.preprocess(images[:8])
    return runner, batch[0] if isinstance(batch, tuple) else batch


def measure(model: str, variant: str, work: Path, images: list, runs: int, device: torch.device,
            **export_args) -> Timing:
    """variant: a backend, or "<backend> fp16"."""
    backend, _, precision = variant.partition(" ")
    out = work / variant.replace(" ", "_")
    start = time.perf_counter()
    try:
        export_one(model, backend, precision or "fp32", out, images[0], **export_args)
    except Exception as exc:  # a backend that cannot take this model is a row, not a crash
        log.error("%s on %s failed to export:\n%s", model, backend, traceback.format_exc())
        first_line = (str(exc).strip().splitlines() or [""])[0][:120]
        return Timing(model, variant, False, error=f"{type(exc).__name__}: {first_line}")
    export_s = time.perf_counter() - start
    manifest = json.loads((out / f"{model}.json").read_text())
    size = sum(f.stat().st_size for f in out.iterdir() if f.stem == model and f.suffix != ".json")
    runner, batch = model_inputs(model, out, images, device)

    def timed(x: torch.Tensor) -> None:
        runner(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    with torch.inference_mode():
        one, eight = batch[:1].contiguous(), batch[:8].contiguous()
        ms1 = median_ms(lambda: timed(one), runs)
        ms8 = median_ms(lambda: timed(eight), max(3, runs // 3)) / len(eight)
    return Timing(model, variant, True, round(ms1, 2), round(ms8, 2), manifest["parity"], round(export_s, 1),
                  round(size / 1e6, 1))


def choose_fastest(rows: list[Timing]) -> dict[str, str]:
    return {m: min((r for r in rows if r.model == m and r.ok), key=lambda r: r.ms_batch1).backend
            for m in NAMES if any(r.model == m and r.ok for r in rows)}


def table(rows: list[Timing], choice: dict[str, str]) -> list[str]:
    base = {r.model: r for r in rows if r.backend == "torchscript" and r.ok}
    lines = ["| model | backend | ms/img batch 1 | ms/img batch 8 | vs TorchScript (b1) | parity vs eager | "
             "artifact MB | export s |", "|---|---|---:|---:|---:|---|---:|---:|"]
    for r in rows:
        if not r.ok:
            lines.append(f"| {r.model} | {r.backend} | - | - | - | failed: {r.error} | - | - |")
            continue
        speed = f"{base[r.model].ms_batch1 / r.ms_batch1:.2f}x" if r.model in base else "-"
        parity = ", ".join(f"{k} {v}" for k, v in r.parity.items() if k not in ("heads",))
        mark = " **(default)**" if choice.get(r.model) == r.backend else ""
        lines.append(f"| {r.model} | {r.backend}{mark} | {r.ms_batch1:.1f} | {r.ms_batch8:.1f} | {speed} | "
                     f"{parity} | {r.size_mb:.0f} | {r.export_s:.0f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench backends", description=__doc__)
    p.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    p.add_argument("--work", type=Path, default=ROOT / "build" / "bench" / "backends")
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--backends", nargs="+", help=f"variants: {', '.join(BACKENDS)}, 'torchscript fp16' "
                   "(default: every backend on cpu; torchscript, torchscript fp16 on cuda)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--models", nargs="+", default=list(NAMES), choices=NAMES)
    p.add_argument("--choice-file", type=Path, default=CHOICE_FILE, help="where the CPU defaults are written")
    p.add_argument("--no-choice", action="store_true", help="measure only; leave the choice file alone")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "backends.json")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    quiet_onnx_logs()
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_OFFLINE", "true")

    images = [pil for _, pil in load_photos(pick_photos(args.photos, 8))]
    export_args = {"weights_dir": os.environ.get("WEIGHTS_DIR") or None,
                   "checkpoint": os.environ.get("ATTRIBUTES_CHECKPOINT") or None}
    device = torch.device(args.device)
    variants = args.backends or (list(BACKENDS) if device.type == "cpu" else ["torchscript", "torchscript fp16"])
    rows = [measure(m, v, args.work / args.device / m, images, args.runs, device, **export_args)
            for m in args.models for v in variants]
    choice = choose_fastest(rows)
    lines = [machine_line(), f"Inputs: {len(images)} photos from {args.photos}", "", *table(rows, choice)]
    print("\n".join(lines))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine_line(), "rows": [dataclasses.asdict(r) for r in rows],
                                    "choice": choice, "table": lines}, indent=1))
    if not args.no_choice and device.type == "cpu" and set(choice) == set(NAMES):
        update_choice({"cpu": choice, "cpu_chosen_by": f"python -m bench backends, {time.strftime('%Y-%m-%d')}: "
                                                       f"{machine_line()}"}, args.choice_file)
        print(f"CPU defaults written to {args.choice_file}: {choice}")
    return 0

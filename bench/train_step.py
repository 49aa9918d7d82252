"""python -m bench.train_step: one training step of the attribute trunk (forward, backward, AdamW) timed under the
allocators training can run with, each in a fresh process, side by side.

The Makefile's training commands preload jemalloc with its freed memory kept (TRAIN_PY). `make bench-train-step`
passes that allocator and its setting (TRAIN_ALLOCATOR, TRAIN_MALLOC_CONF: the Makefile is their one place) and
this prints what they buy on this machine: the median step in seconds, the process's user and kernel CPU seconds
and its minor page faults, under glibc's malloc, the allocator with its default setting, and with TRAIN_PY's. Not a
test: figures measured side by side.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

def settings(environ: dict[str, str]) -> dict[str, dict[str, str]]:
    """Allocator name -> the environment that selects it: glibc always; the training allocator (TRAIN_ALLOCATOR)
    where given, with its default setting and with TRAIN_MALLOC_CONF."""
    out: dict[str, dict[str, str]] = {"glibc": {}}
    allocator = environ.get("TRAIN_ALLOCATOR", "")
    if allocator:
        name = Path(allocator).name
        out[f"{name} (default setting)"] = {"LD_PRELOAD": allocator}
        out[f"{name}, {environ.get('TRAIN_MALLOC_CONF', '')} (TRAIN_PY)"] = {
            "LD_PRELOAD": allocator, "MALLOC_CONF": environ.get("TRAIN_MALLOC_CONF", "")}
    return out


def step_figures(architecture: str, size: int, batch: int, steps: int) -> dict[str, float]:
    """In this process: `steps` training steps on random inputs; the median step and the process's counters."""
    import timm
    import torch

    model = timm.create_model(architecture, num_classes=100)
    optimizer = torch.optim.AdamW(model.parameters(), 1e-4)
    x, y = torch.randn(batch, 3, size, size), torch.randint(0, 100, (batch,))
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"step_s": round(statistics.median(times[1:] or times), 2), "user_s": round(usage.ru_utime, 1),
            "kernel_s": round(usage.ru_stime, 1), "minor_faults": usage.ru_minflt}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.train_step", description=__doc__.split("\n\n")[0])
    ap.add_argument("--architecture", default="tf_efficientnet_lite0")
    ap.add_argument("--size", type=int, default=224, help="square input in pixels")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5, help="steps per allocator (the first is left out of the median)")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # the child: measure here, print JSON
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(step_figures(args.architecture, args.size, args.batch, args.steps)))
        return 0
    rows = {}
    if not os.environ.get("TRAIN_ALLOCATOR"):
        print("no TRAIN_ALLOCATOR given (make bench-train-step passes the Makefile's): glibc only", file=sys.stderr)
    for name, env in settings(os.environ).items():
        child = subprocess.run([sys.executable, "-m", "bench.train_step", "--one", "--architecture", args.architecture,
                                "--size", str(args.size), "--batch", str(args.batch), "--steps", str(args.steps)],
                               env={**os.environ, **env}, capture_output=True, text=True, check=True)
        rows[name] = json.loads(child.stdout.strip().splitlines()[-1])
    base = rows["glibc"]["step_s"]
    print(f"{args.architecture} at {args.size} px, batch {args.batch}, {args.steps} steps, "
          f"{os.cpu_count()} cores")
    print("| allocator | step s | x glibc | user CPU s | kernel CPU s | minor faults |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in rows.items():
        print(f"| {name} | {r['step_s']} | {r['step_s'] / base:.2f} | {r['user_s']} | {r['kernel_s']} | "
              f"{r['minor_faults']:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

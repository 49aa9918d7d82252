"""python -m bench.fixed_work: the work around the models, per stage, on photos with few and many garments.

For street photos with about 1, 6 and 12 garments (the served segmenter's count, the first such photo of the
fixed validation split): the in-process pipeline's time per step (decode, each model's stage, the response) as
medians over runs, each model's forward alone on that photo's real inputs (bench's `raw_forwards`: their sum is
the limit), and the fixed work: a stage's time less its forward, decode and the response whole. Also the fixed
work each added garment costs (the slope from the fewest to the most garments). Issue 36's measure; prints a
table, `--out` writes JSON.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from fashion.models import NAMES, RUN_ORDER

ROOT = Path(__file__).resolve().parent.parent
STREET = ROOT / "../shared/data/street_photos/photos"
WANTED = (1, 6, 12)


def pick(pipe, wanted: tuple[int, ...] = WANTED, limit: int = 200) -> dict[int, Path]:
    """For each wanted garment count, the first validation photo the pipeline answers with the nearest count."""
    from bench.mask_map import val_stems

    counts: dict[Path, int] = {}
    for stem in val_stems()[:limit]:
        path = STREET / f"{stem}.jpg"
        payload, _ = pipe([{"body": path.read_bytes()}])[0]
        counts[path] = len(payload.get("garments", []))
    return {w: min(counts, key=lambda p: (abs(counts[p] - w), p.name)) for w in wanted}


def steps(pipe, photo: bytes, runs: int) -> dict[str, float]:
    """Median ms of decode, each stage's run and the response, each run on a freshly decoded request."""
    from fashion.pipeline import decode
    from fashion.response import encode

    times: dict[str, list[float]] = {k: [] for k in ("decode", *RUN_ORDER, "response")}
    for _ in range(runs + 2):
        start = time.perf_counter()
        envs = [decode({"body": photo})]
        times["decode"].append(time.perf_counter() - start)
        for name in RUN_ORDER:
            start = time.perf_counter()
            pipe[name].run(envs)
            times[name].append(time.perf_counter() - start)
        start = time.perf_counter()
        encode(envs[0])
        times["response"].append(time.perf_counter() - start)
    return {k: round(statistics.median(v[2:]) * 1000, 2) for k, v in times.items()}


def measure(models: Path, runs: int) -> list[dict]:
    from bench.__main__ import raw_forwards
    from fashion.pipeline import Pipeline, decode

    pipe = Pipeline.load(models, torch.device("cpu"))
    out = []
    for path in pick(pipe).values():
        photo = path.read_bytes()
        raw = raw_forwards(pipe, photo, [decode({"body": photo}).items[0].pil], runs)
        took = steps(pipe, photo, runs)
        forward = {m: round(raw[m]["photo"], 2) for m in NAMES}
        fixed = {"decode": took["decode"], **{m: round(took[m] - forward[m], 2) for m in RUN_ORDER},
                 "response": took["response"]}
        total, limit = sum(took.values()), raw["limit"]
        out.append({"photo": path.name, "garments": raw["garments"], "steps_ms": took, "forward_ms": forward,
                    "fixed_ms": fixed, "pipeline_ms": round(total, 2), "limit_ms": round(limit, 2),
                    "fixed_total_ms": round(total - limit, 2),
                    "fixed_share_of_limit": round((total - limit) / limit, 3)})
    return out


def table(rows: list[dict]) -> str:
    parts = ["decode", *RUN_ORDER, "response"]
    lines = ["| photo | garments | " + " | ".join(f"{p} fixed ms" for p in parts) + " | pipeline ms | limit ms | "
             "fixed ms (x limit) |", "|---|---:|" + "---:|" * (len(parts) + 3)]
    for r in rows:
        lines.append(f"| {r['photo']} | {r['garments']} | " + " | ".join(f"{r['fixed_ms'][p]:.1f}" for p in parts)
                     + f" | {r['pipeline_ms']:.1f} | {r['limit_ms']:.1f} | {r['fixed_total_ms']:.1f} "
                       f"({r['fixed_share_of_limit']:.2f}) |")
    few, many = min(rows, key=lambda r: r["garments"]), max(rows, key=lambda r: r["garments"])
    if many["garments"] > few["garments"]:
        slope = (many["fixed_total_ms"] - few["fixed_total_ms"]) / (many["garments"] - few["garments"])
        lines.append(f"\nfixed work per added garment: {slope:.2f} ms ({few['photo']} -> {many['photo']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.fixed_work", description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", type=Path, default=ROOT / "build/export", help="an export folder")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--out", type=Path, help="write the figures here (JSON)")
    args = ap.parse_args(argv)
    rows = measure(args.models, args.runs)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""python -m bench.fixed_work: the work around the models, per stage, on photos with few and many garments.

For street photos with about 1, 6 and 12 garments (the served segmenter's count, the first such photo of the
fixed validation split): the in-process pipeline's time per step (decode, each model's stage, the response) as
medians over runs, each model's forward alone on that photo's real inputs (bench's `raw_forwards`: their sum is
the limit), and the fixed work: each stage's time less its model's forward as it ran there ("around"), decode
and the response whole, and how much slower the forwards ran inside the pipeline than alone and warm (caches
and sleeping thread pools after the work between them). Also the face step's own time (it runs beside the
colour k-means, so it is not added) and the fixed work each added garment costs (the slope from the fewest to
the most garments). Issue 36's measure (`make bench` runs it); prints a table, `--out` writes JSON.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import torch

from fashion.models import NAMES, RUN_ORDER

ROOT = Path(__file__).resolve().parent.parent
STREET = ROOT / "../shared/data/street_photos/photos"
WANTED = (1, 6, 12)


def pick(pipe, photos: Path = STREET, wanted: tuple[int, ...] = WANTED, limit: int = 200) -> dict[int, Path]:
    """For each wanted garment count, the first validation photo the pipeline answers with the nearest count."""
    from bench.mask_map import val_stems

    counts: dict[Path, int] = {}
    for stem in val_stems()[:limit]:
        path = photos / f"{stem}.jpg"
        payload, _ = pipe([{"body": path.read_bytes()}])[0]
        counts[path] = len(payload.get("garments", []))
    return {w: min(counts, key=lambda p: (abs(counts[p] - w), p.name)) for w in wanted}


@contextlib.contextmanager
def timed(owner: Any, attribute: str, times: list[float]) -> Iterator[None]:
    """While inside: every call of owner.attribute appends its seconds to `times`."""
    inner = getattr(owner, attribute)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            times.append(time.perf_counter() - start)
    setattr(owner, attribute, wrapper)
    try:
        yield
    finally:
        setattr(owner, attribute, inner)


def steps(pipe, photo: bytes, runs: int) -> dict[str, float]:
    """Median ms of decode, each stage's run and the response, each run on a freshly decoded request; each
    model's forward as it ran inside its stage (`<model> forward`), and the face step (which runs on a helper
    thread beside the colours, so its time is not added to the segmenter's)."""
    from fashion.pipeline import decode
    from fashion.response import encode

    times: dict[str, list[float]] = {k: [] for k in ("decode", *RUN_ORDER, "response")}
    inside: dict[str, list[float]] = {f"{m} forward": [] for m in NAMES}
    inside["face step"] = []
    with contextlib.ExitStack() as stack:
        for m in NAMES:
            stack.enter_context(timed(pipe.model(m), "module", inside[f"{m} forward"]))
        faces = getattr(pipe["segmenter"], "faces", None)
        if faces is not None:
            stack.enter_context(timed(faces, "men_share", inside["face step"]))
        for _ in range(runs + 2):
            for v in inside.values():
                v.clear()
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
            for k, v in inside.items():
                times.setdefault(k, []).append(sum(v))
    return {k: round(statistics.median(v[2:]) * 1000, 2) for k, v in times.items()}


def measure(models: Path, runs: int, photos: Path = STREET) -> list[dict]:
    from bench.__main__ import raw_forwards
    from fashion.pipeline import Pipeline, decode

    pipe = Pipeline.load(models, torch.device("cpu"))
    out = []
    for path in pick(pipe, photos).values():
        photo = path.read_bytes()
        raw = raw_forwards(pipe, photo, [decode({"body": photo}).items[0].picture.decoded], runs)
        took = steps(pipe, photo, runs)
        forward = {m: round(raw[m]["photo"], 2) for m in NAMES}
        around = {m: round(took[m] - took[f"{m} forward"], 2) for m in RUN_ORDER}
        slower = round(sum(took[f"{m} forward"] - forward[m] for m in NAMES), 2)
        total = sum(took[k] for k in ("decode", *RUN_ORDER, "response"))
        limit = raw["limit"]
        out.append({"photo": path.name, "garments": raw["garments"], "steps_ms": took, "forward_ms": forward,
                    "fixed_ms": {"decode": took["decode"], **around, "response": took["response"],
                                 "forwards in place less alone": slower},
                    "face_step_ms": took["face step"], "pipeline_ms": round(total, 2), "limit_ms": round(limit, 2),
                    "fixed_total_ms": round(total - limit, 2),
                    "fixed_share_of_limit": round((total - limit) / limit, 3)})
    return out


def table(rows: list[dict]) -> str:
    parts = list(rows[0]["fixed_ms"])
    lines = ["| photo | garments | " + " | ".join(f"{p} ms" for p in parts) + " | face step ms (beside the colours) | "
             "pipeline ms | limit ms | fixed ms (x limit) |", "|---|---:|" + "---:|" * (len(parts) + 4)]
    for r in rows:
        lines.append(f"| {r['photo']} | {r['garments']} | " + " | ".join(f"{r['fixed_ms'][p]:.1f}" for p in parts)
                     + f" | {r['face_step_ms']:.1f} | {r['pipeline_ms']:.1f} | {r['limit_ms']:.1f} | "
                       f"{r['fixed_total_ms']:.1f} ({r['fixed_share_of_limit']:.2f}) |")
    few, many = min(rows, key=lambda r: r["garments"]), max(rows, key=lambda r: r["garments"])
    if many["garments"] > few["garments"]:
        slope = (many["fixed_total_ms"] - few["fixed_total_ms"]) / (many["garments"] - few["garments"])
        lines.append(f"\nfixed work per added garment: {slope:.2f} ms ({few['photo']} -> {many['photo']})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.fixed_work", description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", type=Path, default=ROOT / "build/export", help="an export folder")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--photos", type=Path, default=STREET, help="the street photos (the segmenter split's val "
                    "stems are picked from here)")
    ap.add_argument("--out", type=Path, help="write the figures here (JSON)")
    args = ap.parse_args(argv)
    if not args.photos.is_dir():
        print(f"bench.fixed_work skipped: no street photos in {args.photos} (--photos DIR)")
        return 0
    rows = measure(args.models, args.runs, args.photos)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

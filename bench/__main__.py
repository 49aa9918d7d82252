"""python -m bench: raw in-process forwards vs served latency on a real photo; prints one table.

Not a test: it prints figures and ratios measured side by side in one run (absolute times on a shared
machine are noisy; the ratios are what to read).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from bench.load import percentile, run_load
from fashion.pipeline import Pipeline, prepare
from fashion.response import dumps
from launcher import torchserve as ts
from fashion.samples import synthetic_jpeg
from launcher.__main__ import MODELS

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PHOTO = ROOT.parent / "shared" / "data" / "street_photos" / "photos" / "0005.jpg"


def timed(fn, runs: int) -> list[float]:
    fn()  # warm-up (TorchScript optimises on its first calls)
    fn()
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def raw_forwards(pipeline: Pipeline, photo: bytes, runs: int) -> tuple[dict[str, float], int]:
    """Median ms of each model's forward alone on this photo's real inputs (crops included)."""
    env = prepare({"body": photo})
    item = env.items[0]
    seg, emb, attr = pipeline.segmenter, pipeline.embedder, pipeline.attributes
    seg_in, frames = seg.preprocess([item.pil])
    garments = seg.postprocess(*seg.predict(seg_in), frames, [item.pil.size])[0]
    emb_in, _ = emb.preprocess([item.pil], [garments])
    attr_in = attr.preprocess([item.pil])
    with torch.inference_mode():
        forwards = {"segmenter": lambda: seg.module(seg_in), "embedder": lambda: emb.module(emb_in),
                    "attributes": lambda: attr.module(attr_in)}
        return {k: statistics.median(timed(f, runs)) * 1000 for k, f in forwards.items()}, len(garments)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench")
    p.add_argument("--photo", type=Path, default=DEFAULT_PHOTO)
    p.add_argument("--export-dir", type=Path, default=ROOT / "build" / "export")
    p.add_argument("--store", type=Path, default=ROOT / "model_store")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--per-client", type=int, default=10)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latest.md")
    args = p.parse_args()
    photo = args.photo.read_bytes()

    pipeline = Pipeline.load(args.export_dir, torch.device("cpu"))
    raw, n_garments = raw_forwards(pipeline, photo, args.runs)
    limit = sum(raw.values())
    in_process = timed(lambda: pipeline([{"body": photo}]), args.runs)
    (payload, _), = pipeline([{"body": photo}])
    size = len(dumps(payload))  # the bytes the server sends for this photo

    served = {}
    with tempfile.TemporaryDirectory() as tmp, \
            ts.temporary_server(ROOT / "config.properties", args.store, Path(tmp), MODELS, synthetic_jpeg()) as urls:
        for name, path in (("workflow", "/wfpredict/fashion"), ("ensemble", "/predictions/fashion")):
            url = urls["inference"] + path
            seq = run_load(url, photo, 1, args.runs + 2)
            lat = seq.latencies[2:]
            conc = run_load(url, photo, args.clients, args.per_client)
            served[name] = {"p50": statistics.median(lat) * 1000, "p95": percentile(lat, 95) * 1000,
                            "conc_throughput": conc.throughput, "conc_p95": conc.percentile(95) * 1000,
                            "conc_max_over_median": max(conc.latencies) / conc.median,
                            "errors": sum(s != 200 for s in seq.statuses + conc.statuses)}

    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}, device cpu",
        f"Photo: {args.photo.name} ({len(photo)} bytes), {n_garments} garments; response {size} bytes",
        "",
        "| what | ms (median) |", "|---|---:|",
        *[f"| raw forward: {k} | {v:.1f} |" for k, v in raw.items()],
        f"| **limit** (sum of raw forwards) | **{limit:.1f}** |",
        f"| in-process pipeline (decode..encode) | {statistics.median(in_process) * 1000:.1f} |",
        "",
        f"| served | p50 ms | p95 ms | p50 / limit | {args.clients} clients: img/s | p95 ms | max/median | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *[f"| {k} | {v['p50']:.1f} | {v['p95']:.1f} | {v['p50'] / limit:.2f} | {v['conc_throughput']:.2f} | "
          f"{v['conc_p95']:.0f} | {v['conc_max_over_median']:.2f} | {v['errors']} |" for k, v in served.items()],
    ]
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()

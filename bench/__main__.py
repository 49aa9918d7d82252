"""python -m bench: the limit, the in-process pipeline, the naive alternative and the served pipeline (dynamic
batching on and off) on the same real photos, in one run; prints one table with the ratios the targets read.
`python -m bench backends` measures every backend per model and picks the CPU defaults (bench/backends.py).

Not a test: figures and ratios measured side by side (absolute times on a shared machine are noisy).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from bench.backends import median_ms
from bench.photos import DEFAULT_PHOTOS, load_photos, machine_line, pick_photos
from bench.served import archive_sizes, measure as measure_served
from export.choice import CHOICE_FILE
from fashion import models as registry
from fashion.models import NAMES
from fashion.pipeline import Pipeline, decode
from fashion.results import Envelope
from fashion.response import dumps, encode
from fashion.threads import describe as describe_threads
from fashion.worn.face_gender import face_region

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PHOTO = DEFAULT_PHOTOS / "0005.jpg"
BATCH = 8
BATCH_SIZE_ON = 4  # the archives' and workflow's setting (export/archive.py MODEL_CONFIG, WORKFLOW_SETTINGS)


def raw_forwards(pipeline: Pipeline, photo: bytes, images: list, runs: int) -> dict:
    """Each model's forward alone: ms per image at batch 1 and batch 8 (8 photos), and on this photo's real
    inputs (the photo and its garment crops; the embedder only projects the attribute model's trunk features
    when the two share their trunk, fashion.nets.trunk): the limit is their sum."""
    image = decode({"body": photo}).items[0].picture.decoded
    seg, emb, attr = pipeline.model("segmenter"), pipeline.model("embedder"), pipeline.model("attributes")
    seg_in, frames = seg.preprocess([image])
    garments = seg.postprocess(*seg.predict(seg_in), frames, [image.size])[0]
    crops = emb.preprocess([image], [garments])[0]  # the attribute model's input spec is the embedder's
    shared = emb.projection is not None and attr.features and attr.digest == emb.digest
    inputs = {"segmenter": (seg_in, seg.preprocess(images)[0], seg.module),
              "embedder": (emb.preprocess([image], [garments])[0], emb.preprocess(images)[0], emb.module),
              "attributes": (crops if attr.features else attr.preprocess([image]), attr.preprocess(images),
                             attr.module)}
    out: dict = {"garments": len(garments)}
    with torch.inference_mode():
        for name, (photo_in, eight, run) in inputs.items():
            one = eight[:1].contiguous()
            out[name] = {"photo": median_ms(lambda r=run, x=photo_in: r(x), runs),
                         "photo_batch": int(photo_in.shape[0]),
                         "batch1": median_ms(lambda r=run, x=one: r(x), runs),
                         "batch8": median_ms(lambda r=run, x=eight: r(x), max(3, runs // 3)) / len(eight)}
    if shared:  # the embedder's part of the photo: projecting the attribute model's trunk features
        features = attr.predict(crops)[1].numpy()
        out["embedder"]["photo"] = median_ms(lambda: emb.projection(features), runs)
        out["embedder"]["photo_batch"] = "projection"
    out["limit"] = sum(out[m]["photo"] for m in NAMES)
    faces = getattr(pipeline["segmenter"], "faces", None)
    if faces is not None:  # the face step is a model too (dlib's detector, the gender net), outside the limit
        region = face_region(((g.label, g.box) for g in garments), image.size)
        pixels = np.asarray(image.convert("RGB"))
        out["face"] = median_ms(lambda: faces.men_share(pixels, region), runs)
    return out


def encode_cost(pipeline: Pipeline, photo: bytes, runs: int) -> tuple[int, float]:
    """(response bytes, ms to build and serialise it) for this photo."""
    env = decode({"body": photo})
    pipeline.run([env])

    def response() -> bytes:
        copy = Envelope(env.shape, env.options, env.items, models=list(env.models), texts=env.texts)
        return dumps(encode(copy)[0])
    return len(response()), median_ms(response, runs)


def in_process(pipeline: Pipeline, photo: bytes, bodies: list[bytes], runs: int) -> dict:
    one = median_ms(lambda: pipeline([{"body": photo}]), runs)
    batch = [{"body": b} for b in bodies]
    per_batch = median_ms(lambda: pipeline(batch), max(3, runs // 4), warmup=1)
    return {"latency": one, "batched_throughput": len(bodies) / (per_batch / 1000)}


def naive(photos: list[Path], runs: int, weights_dir: str | None, checkpoint: str | None) -> dict:
    from bench.naive import NaivePipeline

    pipe = NaivePipeline(weights_dir, checkpoint)
    for p in photos[:2]:
        pipe(p)  # warm-up
    times = []
    for _ in range(max(1, runs // len(photos))):
        for p in photos:
            start = time.perf_counter()
            pipe(p)
            times.append(time.perf_counter() - start)
    return {"latency": statistics.median(times) * 1000, "throughput": len(times) / sum(times),
            "photo_latency": median_ms(lambda: pipe(photos[0]), runs)}


def served_env(store: Path) -> dict[str, str]:
    """The thread settings the launcher gives TorchServe's workers (launcher/torchserve.py start)."""
    from launcher.torchserve import node_workers
    return {"FASHION_NODE_WORKERS": str(node_workers(store / registry.WORKFLOW_ARCHIVE)), **os.environ}


def report(args, raw, local, naive_figs, served, extra, sizes, encode, manifests) -> list[str]:
    limit = raw["limit"]
    on = {r.endpoint: r for r in served if r.batch_size == BATCH_SIZE_ON and r.threads == args.served_threads[0]}
    most = max(args.clients)
    lines = [
        f"Machine: {machine_line()}",
        f"Served workers: {describe_threads(served_env(args.store))}",
        "Backends (from the archives' manifests): "
        + ", ".join(f"{m} {v['backend']} {v['precision']}" for m, v in manifests.items()),
        f"Photo for latency: {args.photo.name} ({raw['garments']} garments); throughput: {BATCH} photos from "
        f"{args.photos} taken in turn",
        "",
        "| raw forward, in-process | ms/img batch 1 | ms/img batch 8 | ms on the photo (batch) |",
        "|---|---:|---:|---:|",
        *[f"| {m} | {raw[m]['batch1']:.1f} | {raw[m]['batch8']:.1f} | {raw[m]['photo']:.1f} ({raw[m]['photo_batch']}) |"
          for m in NAMES],
        f"| **limit** (sum on the photo) | | | **{limit:.1f}** |",
        *([f"| face step (dlib's detector and the gender net; not in the limit) | | | {raw['face']:.1f} |"]
          if "face" in raw else []),
        "",
        "| in-process | figure |", "|---|---:|",
        f"| pipeline, one photo (decode .. encode) | {local['latency']:.1f} ms "
        f"({local['latency'] / limit:.2f} x limit"
        + (f", {local['latency'] / (limit + raw['face']):.2f} x limit + face step" if "face" in raw else "") + ") |",
        f"| pipeline, batch of {BATCH} photos in one call | {local['batched_throughput']:.2f} img/s |",
        f"| naive alternative, one photo | {naive_figs['photo_latency']:.1f} ms |",
        f"| naive alternative, {BATCH} photos one after another | {naive_figs['throughput']:.2f} img/s "
        f"(median {naive_figs['latency']:.0f} ms) |",
        f"| response for the photo | {encode[0]} bytes, built and serialised in {encode[1]:.1f} ms |",
        "",
        "| served | threads | batch size | 1 client p50 ms | p95 ms | p50 / limit | "
        + " | ".join(f"{n} clients img/s | p95 ms | max/median" for n in args.clients) + " | errors |",
        "|---|---|---:|---:|---:|---:|" + "---:|---:|---:|" * len(args.clients) + "---:|",
    ]
    for r in served:
        cells = " | ".join(f"{c['throughput']:.2f} | {c['p95']:.0f} | {c['max_over_median']:.2f}"
                           for c in r.clients.values())
        errors = max(c["errors"] for c in r.clients.values())
        lines.append(f"| {r.endpoint} | {r.threads} | {r.batch_size} | {r.p50:.1f} | {r.p95:.1f} | "
                     f"{r.p50 / limit:.2f} | {cells} | {errors} |")
    lines += ["", f"| target (batch size {BATCH_SIZE_ON}, threads {args.served_threads[0]}) | workflow | ensemble "
              "| bar |", "|---|---:|---:|---|"]
    for label, fn, bar in (  # issue 36's bars; in process: pipeline <= 1.4 x limit
            ("served p50 / limit", lambda r: r.p50 / limit, "<= 1.9 workflow, <= 1.35 ensemble"),
            (f"{most} clients / in-process batched", lambda r: r.clients[most]["throughput"]
             / local["batched_throughput"], ">= 0.9 workflow, >= 0.95 ensemble"),
            (f"{most} clients / naive", lambda r: r.clients[most]["throughput"] / naive_figs["throughput"], ">= 2"),
            ("1 client p50: naive / ours", lambda r: naive_figs["photo_latency"] / r.p50, "(speed-up)")):
        lines.append(f"| {label} | " + " | ".join(f"{fn(on[e]):.2f}" for e in ("workflow", "ensemble"))
                     + f" | {bar} |")
    lines += ["", f"In process: pipeline / limit {local['latency'] / limit:.2f} (bar <= 1.4)."]
    for (batch_size, threads), figures in extra.items():
        rss = figures["rss_mb"]
        lines.append("")
        lines.append(f"Batch size {batch_size}, threads {threads}: start-up to a served workflow "
                     f"{figures['startup_s']:.0f} s; worker RSS "
                     + ", ".join(f"{k} {v} MB" for k, v in rss.items()) + f"; total {sum(rss.values())} MB")
    lines.append("Archives: " + ", ".join(f"{k} {v} MB" for k, v in sizes.items()))
    return lines


def _existing(path: Path) -> str | None:
    return str(path) if path.exists() else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--photo", type=Path, default=DEFAULT_PHOTO)
    p.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS)
    p.add_argument("--export-dir", type=Path, default=ROOT / "build" / "export")
    p.add_argument("--store", type=Path, default=ROOT / "model_store")
    p.add_argument("--config", type=Path, default=ROOT / "config.properties")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--clients", type=int, nargs="+", default=[4, 8])
    p.add_argument("--per-client", type=int, default=6)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[BATCH_SIZE_ON, 1])
    p.add_argument("--served-threads", nargs="+", default=["policy", "split"],
                   help="'policy' (fashion.threads: cores over a model's workers), 'split' (the cores split "
                        "evenly over the workflow's nodes, the rejected alternative) or a FASHION_TORCH_THREADS value")
    p.add_argument("--skip-naive", action="store_true")
    p.add_argument("--weights-dir", default=os.environ.get("WEIGHTS_DIR")
                   or _existing(ROOT.parent / "shared" / "weights"),
                   help="the naive alternative's weights: the same local files the archives were built from")
    p.add_argument("--attributes-checkpoint", default=os.environ.get("ATTRIBUTES_CHECKPOINT")
                   or _existing(ROOT / "build" / "train" / "attributes" / "attributes.pt"))
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latest.md")
    p.add_argument("--choice-file", type=Path, default=CHOICE_FILE, help="where the work shares are written")
    args = p.parse_args(argv)

    photo = args.photo.read_bytes()
    photo_paths = pick_photos(args.photos, BATCH)
    picked = load_photos(photo_paths)
    bodies, images = [b for b, _ in picked], [im for _, im in picked]

    pipeline = Pipeline.load(args.export_dir, torch.device("cpu"))
    manifests = {m: {"backend": pipeline[m].manifest.backend,
                     "precision": pipeline[m].manifest.precision} for m in NAMES}
    raw = raw_forwards(pipeline, photo, images, args.runs)
    local = in_process(pipeline, photo, bodies, args.runs)
    encode = encode_cost(pipeline, photo, args.runs)
    del pipeline
    nan = float("nan")
    naive_figs = {"latency": nan, "throughput": nan, "photo_latency": nan} if args.skip_naive else \
        naive(photo_paths, args.runs, args.weights_dir, args.attributes_checkpoint)

    served, extra = [], {}
    for threads in args.served_threads:
        for batch_size in args.batch_sizes:
            rows, figures = measure_served(args.config, args.store, batch_size, photo, bodies, args.runs,
                                           tuple(args.clients), args.per_client, threads)
            served += rows
            extra[(batch_size, threads)] = figures

    lines = report(args, raw, local, naive_figs, served, extra, archive_sizes(args.store), encode, manifests)
    backends = ROOT / "bench" / "results" / "backends.json"
    if backends.is_file():
        lines = json.loads(backends.read_text())["table"][2:] + [""] + lines
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["backends"]:
        from bench import backends
        sys.exit(backends.main(sys.argv[2:]))
    sys.exit(main())

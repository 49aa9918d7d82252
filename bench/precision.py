"""python -m bench.precision: bf16 against fp32 for every OpenVINO model, side by side in one run: speed and the
accuracy gates; --write records the precision that passed in export/backends.json (the CPU default).

Gates (issue 12; the evaluation splits were never used to choose anything here):
- embedder: cosine to fp32 >= 0.99 for every whole-image and garment embedding, and the same zero-shot top-1
  label (every head) for >= 99 % of images;
- attributes: top-1 agreement with fp32 >= 99 % per head, and held-out accuracy (the 1,731 test products of
  reports/attributes_split.csv against styles.csv) within 0.5 points of fp32 per head;
- segmenter: the same garments (labels) on >= 99 % of the validation street photos (reports/segmenter_split.csv)
  and, where they match, mask IoU >= 0.99 per garment. (Stricter than "mask mAP50 within 0.01": identical
  garments and masks give the same mAP.)
Speed: each model's forward at batch 1 and 8 on real inputs, alternated, median of repeated runs.
bf16 is only tried where OpenVINO reports BF16 for the CPU.
"""
from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from export.choice import load_choice, update_choice
from fashion import models as registry
from fashion.backends import bf16_supported, load_runner
from fashion.pipeline import Pipeline, prepare

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
GATES = {"embedding_cosine": 0.99, "zero_shot_same": 0.99, "attribute_agreement": 0.99,
         "accuracy_points": 0.5, "same_garments": 0.99, "mask_iou": 0.99}


def with_precision(directory: Path, bf16: tuple[str, ...] = ()) -> Pipeline:
    """The in-process pipeline, fp32 except the `bf16` models (a gate puts one model at a time in bf16)."""
    pipe = Pipeline.load(directory, torch.device("cpu"))
    for name in registry.NAMES:  # whatever the manifests say: fp32, and bf16 for the one under test
        stage = getattr(pipe, name)
        stage.module = load_runner(directory / stage.manifest.artifact, stage.manifest.backend,
                                   torch.device("cpu"), precision="bf16" if name in bf16 else "fp32")
    return pipe


def _answers(pipe: Pipeline, paths: list[Path]) -> list[Any]:
    out = []
    for i in range(0, len(paths), 8):
        envs = [prepare({"body": p.read_bytes()}) for p in paths[i:i + 8]]
        pipe.stages(envs)
        out += [it for env in envs for it in env.items]
    return out


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


def _labels(items: list[Any], heads: list[str]) -> list[dict[str, str]]:
    return [{h: it.metadata[h]["label"] for h in heads} for it in items]


def gates(directory: Path, products: list[Path], truth: dict[str, dict[str, str]], street: list[Path]) -> dict:
    heads = ["gender", "articleType", "baseColour", "season", "usage"]
    ref = with_precision(directory)
    pa, sa = _answers(ref, products), _answers(ref, street)
    res: dict[str, Any] = {}
    # attributes in bf16: top-1 agreement and held-out accuracy per head
    b = _answers(with_precision(directory, ("attributes",)), products)
    la, lb = _labels(pa, heads), _labels(b, heads)
    agree = {h: float(np.mean([x[h] == y[h] for x, y in zip(la, lb)])) for h in heads}
    known = [(p.stem, x, y) for p, x, y in zip(products, la, lb) if p.stem in truth]
    acc = {k: {h: float(np.mean([(x if k == "fp32" else y)[h] == truth[s][h] for s, x, y in known])) for h in heads}
           for k in ("fp32", "bf16")}
    res["attributes"] = {"agreement": {h: round(v, 4) for h, v in agree.items()},
                         "accuracy_fp32": {h: round(v, 4) for h, v in acc["fp32"].items()},
                         "accuracy_bf16": {h: round(v, 4) for h, v in acc["bf16"].items()}}
    res["attributes"]["pass"] = bool(all(v >= GATES["attribute_agreement"] for v in agree.values()) and all(
        abs(acc["fp32"][h] - acc["bf16"][h]) * 100 <= GATES["accuracy_points"] for h in heads))
    # embedder in bf16 (the same garments: the segmenter stays fp32): cosines, zero-shot top-1 per head
    emb = with_precision(directory, ("embedder",))
    pb, sb = _answers(emb, products), _answers(emb, street)
    whole = _cos(np.stack([x.embedding for x in pa + sa]), np.stack([y.embedding for y in pb + sb]))
    parts = [c for x, y in zip(sa, sb) if x.garments for c in _cos(x.garment_embeddings, y.garment_embeddings)]
    zs = ref.embedder.zeroshot
    same = {}
    if zs is not None:
        za, zb = zs.metadata(np.stack([x.embedding for x in pa])), zs.metadata(np.stack([y.embedding for y in pb]))
        same = {h: float(np.mean([p[h]["label"] == q[h]["label"] for p, q in zip(za, zb)]))
                for h in heads if h in za[0]}
    res["embedder"] = {"min_whole_cosine": round(float(whole.min()), 5),
                       "min_garment_cosine": round(float(min(parts)), 5) if parts else None,
                       "zero_shot_same_top1": {h: round(v, 4) for h, v in same.items()}}
    res["embedder"]["pass"] = bool(whole.min() >= GATES["embedding_cosine"]
                                   and (not parts or min(parts) >= GATES["embedding_cosine"])
                                   and all(v >= GATES["zero_shot_same"] for v in same.values()))
    # segmenter in bf16: the same garments and masks on the validation street photos
    sc = _answers(with_precision(directory, ("segmenter",)), street)
    matched, ious = [], []
    for x, y in zip(sa, sc):
        gx, gy = x.garments or [], y.garments or []
        matched.append([g.label for g in gx] == [g.label for g in gy])
        if matched[-1]:
            ious += [float((g.mask & h.mask).sum() / max((g.mask | h.mask).sum(), 1)) for g, h in zip(gx, gy)]
    res["segmenter"] = {"same_garments": round(float(np.mean(matched)), 4),
                        "min_mask_iou": round(min(ious), 4) if ious else None,
                        "masks_under_0.99": int(sum(i < GATES["mask_iou"] for i in ious)), "garments": len(ious)}
    res["segmenter"]["pass"] = bool(np.mean(matched) >= GATES["same_garments"] and (
        not ious or min(ious) >= GATES["mask_iou"]))
    return res


def speed(directory: Path, street: list[Path], runs: int = 15) -> dict[str, dict[str, float]]:
    out = {}
    images = [Image.open(p).convert("RGB") for p in street[:8]]
    pipe = Pipeline.load(directory, torch.device("cpu"))
    for name in registry.NAMES:
        stage = getattr(pipe, name)
        batch = stage.preprocess(images)
        batch = batch[0] if isinstance(batch, tuple) else batch
        runners = {p: load_runner(directory / stage.manifest.artifact, "openvino", torch.device("cpu"), precision=p)
                   for p in ("fp32", "bf16")}
        times: dict[str, list[float]] = {f"{p} b{n}": [] for p in runners for n in (1, 8)}
        for _ in range(runs):
            for p, r in runners.items():
                for n in (1, 8):
                    start = time.perf_counter()
                    r(batch[:n])
                    times[f"{p} b{n}"].append(time.perf_counter() - start)
        out[name] = {k: round(statistics.median(v) * 1000, 2) for k, v in times.items()}
    return out


def limits(directory: Path, bf16: list[str], photo: Path, runs: int = 20) -> dict[str, float]:
    """The limit (bench's sum of the models' forwards on the photo's real inputs) with every model in fp32 and
    with `bf16` models in bf16, measured fp32 / bf16 / fp32 / bf16 in one run."""
    from bench.__main__ import raw_forwards
    from bench.photos import DEFAULT_PHOTOS, pick_photos

    images = [Image.open(p).convert("RGB") for p in pick_photos(DEFAULT_PHOTOS, 8)]
    pipes = {"fp32": with_precision(directory), "bf16": with_precision(directory, tuple(bf16))}
    seen: dict[str, list[dict]] = {"fp32": [], "bf16": []}
    for _ in range(2):
        for k, pipe in pipes.items():
            seen[k].append(raw_forwards(pipe, photo.read_bytes(), images, runs))
    return {k: round(min(r["limit"] for r in v), 2) for k, v in seen.items()} | {
        f"{k} {m}": round(min(r[m]["photo"] for r in v), 2) for k, v in seen.items() for m in registry.NAMES}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=Path, default=Path("build/export"))
    p.add_argument("--skip-speed", action="store_true", help="the gates only")
    p.add_argument("--limit-only", action="store_true",
                   help="only the limit, fp32 against the bf16 models export/backends.json names")
    p.add_argument("--write", action="store_true", help="record bf16 in export/backends.json where it passed")
    args = p.parse_args(argv)
    if not bf16_supported():
        print("this CPU does not report BF16 to OpenVINO: nothing to compare")
        return 0
    if args.limit_only:
        from bench.__main__ import DEFAULT_PHOTO

        chosen = [m for m, v in load_choice().get("cpu", {}).items() if v.endswith("bf16")]
        print(f"limit on {DEFAULT_PHOTO.name}, bf16: {chosen}: {limits(args.models, chosen, DEFAULT_PHOTO)}")
        return 0
    test = [r["id"] for r in csv.DictReader(open("reports/attributes_split.csv")) if r["split"] == "test"]
    products = [SHARED / "fashion_products" / "images" / f"{i}.jpg" for i in test]
    truth = {r["id"]: r for r in csv.DictReader(open(SHARED / "fashion_products" / "styles.csv"))}
    val = [r["id"] for r in csv.DictReader(open("reports/segmenter_split.csv")) if r["split"] == "val"]
    street = [SHARED / "street_photos" / "photos" / f"{i}.jpg" for i in val]
    times = {} if args.skip_speed else speed(args.models, street)
    print("| model | fp32 b1 ms | bf16 b1 ms | b1 ratio | fp32 b8 ms | bf16 b8 ms | b8 ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, t in times.items():
        print(f"| {name} | {t['fp32 b1']} | {t['bf16 b1']} | {t['fp32 b1'] / t['bf16 b1']:.2f}x | {t['fp32 b8']} | "
              f"{t['bf16 b8']} | {t['fp32 b8'] / t['bf16 b8']:.2f}x |")
    result = gates(args.models, products, truth, street)
    for name, r in result.items():
        print(f"{name}: {'PASS' if r['pass'] else 'FAIL'} {r}")
    if args.write:
        choice = load_choice()
        cpu = dict(choice.get("cpu", {}))
        for name, r in result.items():
            backend = cpu.get(name, "openvino").split(" ")[0]
            if backend == "openvino":
                cpu[name] = "openvino bf16" if r["pass"] else "openvino"
        update_choice({"cpu": cpu, "cpu_precision_by": "python -m bench.precision: bf16 where its gates passed"})
        print(f"export/backends.json cpu: {cpu}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""python -m bench.precision: fp32, bf16 and int8 for every OpenVINO model, side by side in one run: speed and the
accuracy gates; --write records, per model, the fastest variant that passed in export/backends.json (the CPU
default) and the fastest that needs no calibration photos (the fallback export takes without them).

Variants: bf16 is OpenVINO's inference precision on the fp32 IR (only where the CPU reports BF16); int8 is the IR
quantised by NNCF (export/quantize.py: calibrated on training-split photos only).
Gates (issue 12; the evaluation splits below were never used to calibrate or choose anything else):
- segmenter: mask mAP50 within 0.01 of fp32 on the 90 validation street photos (reports/segmenter_split.csv;
  bench.mask_map, the served postprocess); how many photos keep exactly fp32's garments is shown, not gated;
- embedder: cosine to fp32 >= 0.99 for every whole-image and garment embedding, and the same zero-shot top-1
  label (every head) for >= 99 % of images;
- attributes: top-1 agreement with fp32 >= 99 % per head, and held-out accuracy (the 1,731 test products of
  reports/attributes_split.csv against styles.csv) within 0.5 points of fp32 per head.
One model at a time is in the variant under test, the others in fp32.
Speed: each model's forward at batch 1 and 8 on real inputs, variants alternated, median of repeated runs.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import io
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from bench import mask_map
from export.choice import load_choice, update_choice
from export.quantize import data_root, int8_name, quantize
from fashion import models as registry
from fashion.backends import bf16_supported, load_runner
from fashion.manifest import MANIFEST_SUFFIX, Manifest
from fashion.pipeline import Pipeline, decode
from fashion.results import Embeddings, GarmentEmbeddings, Metadata
from training.split import read_split

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
# the models with lower precisions to gate (the registry's `precisions`); each has a method of Gates
GATED = tuple(m.name for m in registry.MODELS if m.precisions)
GATES = {"embedding_cosine": 0.99, "zero_shot_same": 0.99, "attribute_agreement": 0.99,
         "accuracy_points": 0.5, "map50_points": 0.01}
HEADS = ["gender", "articleType", "baseColour", "season", "usage"]
CPU = torch.device("cpu")


def artifact(directory: Path, name: str, precision: str) -> Path:
    """The file a variant runs: the fp32 IR (fp32, bf16) or its int8 twin."""
    fp32 = Manifest.load(directory / f"{name}{MANIFEST_SUFFIX}").fp32_artifact
    return directory / (int8_name(fp32) if precision == "int8" else fp32)


def with_precision(directory: Path, variants: dict[str, str] | None = None) -> Pipeline:
    """The in-process pipeline, every model in fp32 except those `variants` names ({"embedder": "int8"})."""
    pipe = Pipeline.load(directory, CPU)
    for name in GATED:
        precision = (variants or {}).get(name, "fp32")
        pipe.model(name).module = load_runner(artifact(directory, name, precision), "openvino", CPU,
                                                 precision=precision)
    return pipe


def _answers(pipe: Pipeline, paths: list[Path]) -> list[Any]:
    out = []
    for i in range(0, len(paths), 8):
        envs = [decode({"body": p.read_bytes()}) for p in paths[i:i + 8]]
        pipe.run(envs)
        out += [it for env in envs for it in env.items]
    return out


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)


def _labels(items: list[Any]) -> list[dict[str, str]]:
    return [{h: it.get(Metadata).photo[h]["label"] for h in HEADS} for it in items]


class Gates:
    """The fp32 answers computed once; each variant gated against them."""

    def __init__(self, directory: Path, products: list[Path], truth: dict[str, dict[str, str]],
                 street: list[Path], labelled: mask_map.Truth) -> None:
        self.directory, self.products, self.truth, self.street, self.labelled = \
            directory, products, truth, street, labelled
        ref = with_precision(directory)
        self.zeroshot = ref.model("embedder").zeroshot
        self.classes = ref.model("segmenter").classes
        self.products_fp32, self.street_fp32 = _answers(ref, products), _answers(ref, street)
        self.map_fp32 = self._map(ref)

    def _map(self, pipe: Pipeline) -> dict[str, float]:
        photos = [SHARED / "street_photos" / "photos" / f"{s}.jpg" for s in sorted(self.labelled)]
        found = dict(zip(sorted(self.labelled), mask_map.detections(pipe.model("segmenter"), photos)))
        with contextlib.redirect_stdout(io.StringIO()):  # COCOeval prints its summary table
            return mask_map.mask_map(self.labelled, found, self.classes)

    def attributes(self, precision: str) -> dict[str, Any]:
        b = _answers(with_precision(self.directory, {"attributes": precision}), self.products)
        la, lb = _labels(self.products_fp32), _labels(b)
        agree = {h: float(np.mean([x[h] == y[h] for x, y in zip(la, lb)])) for h in HEADS}
        known = [(p.stem, x, y) for p, x, y in zip(self.products, la, lb) if p.stem in self.truth]
        acc = {k: {h: float(np.mean([(x if k == "fp32" else y)[h] == self.truth[s][h] for s, x, y in known]))
                   for h in HEADS} for k in ("fp32", precision)}
        delta = {h: round((acc[precision][h] - acc["fp32"][h]) * 100, 2) for h in HEADS}
        return {"agreement": {h: round(v, 4) for h, v in agree.items()}, "accuracy_points": delta,
                "pass": bool(all(v >= GATES["attribute_agreement"] for v in agree.values())
                             and all(abs(d) <= GATES["accuracy_points"] for d in delta.values()))}

    def embedder(self, precision: str) -> dict[str, Any]:
        pipe = with_precision(self.directory, {"embedder": precision})
        pb, sb = _answers(pipe, self.products), _answers(pipe, self.street)
        pa, sa = self.products_fp32, self.street_fp32
        whole = _cos(np.stack([x.get(Embeddings).image for x in pa + sa]),
                     np.stack([y.get(Embeddings).image for y in pb + sb]))
        parts = [c for x, y in zip(sa, sb) if x.garments
                 for c in _cos(x.get(GarmentEmbeddings).vectors, y.get(GarmentEmbeddings).vectors)]
        same = {}
        if self.zeroshot is not None:
            za = self.zeroshot.metadata(np.stack([x.get(Embeddings).image for x in pa]))
            zb = self.zeroshot.metadata(np.stack([y.get(Embeddings).image for y in pb]))
            same = {h: float(np.mean([p[h]["label"] == q[h]["label"] for p, q in zip(za, zb)]))
                    for h in HEADS if h in za[0]}
        return {"min_whole_cosine": round(float(whole.min()), 5),
                "min_garment_cosine": round(float(min(parts)), 5) if parts else None,
                "zero_shot_same_top1": {h: round(v, 4) for h, v in same.items()},
                "pass": bool(whole.min() >= GATES["embedding_cosine"]
                             and (not parts or min(parts) >= GATES["embedding_cosine"])
                             and all(v >= GATES["zero_shot_same"] for v in same.values()))}

    def segmenter(self, precision: str) -> dict[str, Any]:
        pipe = with_precision(self.directory, {"segmenter": precision})
        variant = self._map(pipe)
        same = [[g.label for g in x.garments or []] == [g.label for g in y.garments or []]
                for x, y in zip(self.street_fp32, _answers(pipe, self.street))]
        delta = variant["map50"] - self.map_fp32["map50"]
        return {"map50_fp32": round(self.map_fp32["map50"], 4), "map50": round(variant["map50"], 4),
                "map50_95": round(variant["map50_95"], 4), "same_garments": round(float(np.mean(same)), 4),
                "pass": bool(abs(delta) <= GATES["map50_points"])}


def speed(directory: Path, street: list[Path], variants: list[str], names: tuple[str, ...] = GATED,
          runs: int = 15) -> dict[str, dict[str, float]]:
    """Median ms per forward of each model `names` lists, per precision, at batch 1 and 8."""
    out = {}
    images = [Image.open(p).convert("RGB") for p in street[:8]]
    pipe = Pipeline.load(directory, CPU)
    for name in names:
        stage = pipe.model(name)
        batch = stage.preprocess(images)
        batch = batch[0] if isinstance(batch, tuple) else batch
        runners = {p: load_runner(artifact(directory, name, p), "openvino", CPU, precision=p) for p in variants}
        times: dict[str, list[float]] = {f"{p} b{n}": [] for p in runners for n in (1, 8)}
        for _ in range(runs):
            for p, r in runners.items():
                for n in (1, 8):
                    start = time.perf_counter()
                    r(batch[:n])
                    times[f"{p} b{n}"].append(time.perf_counter() - start)
        out[name] = {k: round(statistics.median(v) * 1000, 2) for k, v in times.items()}
    return out


def cost(times: dict[str, float], precision: str) -> float:
    """What the choice minimises: ms at batch 1 plus ms per image at batch 8."""
    return times[f"{precision} b1"] + times[f"{precision} b8"] / 8


def fastest(times: dict[str, float], passed: list[str]) -> str:
    return min(passed, key=lambda p: cost(times, p))


def limits(directory: Path, chosen: dict[str, str], photo: Path, runs: int = 20) -> dict[str, float]:
    """The limit (bench's sum of the models' forwards on the photo's real inputs) with every model in fp32 and
    with the chosen variants, measured fp32 / chosen / fp32 / chosen in one run."""
    from bench.__main__ import raw_forwards
    from bench.photos import DEFAULT_PHOTOS, pick_photos

    images = [Image.open(p).convert("RGB") for p in pick_photos(DEFAULT_PHOTOS, 8)]
    pipes = {"fp32": with_precision(directory), "chosen": with_precision(directory, chosen)}
    seen: dict[str, list[dict]] = {k: [] for k in pipes}
    for _ in range(2):
        for k, pipe in pipes.items():
            seen[k].append(raw_forwards(pipe, photo.read_bytes(), images, runs))
    return {k: round(min(r["limit"] for r in v), 2) for k, v in seen.items()} | {
        f"{k} {m}": round(min(r[m]["photo"] for r in v), 2) for k, v in seen.items() for m in GATED}


def chosen_variants(target: str = "cpu") -> dict[str, str]:
    return {m: v.partition(" ")[2] or "fp32" for m, v in load_choice().get(target, {}).items()
            if v.startswith("openvino")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=Path, default=Path("build/export"))
    p.add_argument("--calibration-data", type=Path, default=None,
                   help="int8 calibration photos (default: FASHION_CALIBRATION_DATA, then ../shared/data)")
    p.add_argument("--skip-speed", action="store_true", help="the gates only (--write then needs speed: refused)")
    p.add_argument("--speed-only", action="store_true", help="the speed table only (the int8 IRs quantised first)")
    p.add_argument("--limit-only", action="store_true",
                   help="only the limit, fp32 against the variants export/backends.json names")
    p.add_argument("--write", action="store_true", help="record the choice in export/backends.json")
    p.add_argument("--only", choices=GATED, action="append",
                   help="gate only this model (repeat for more; not with --write)")
    args = p.parse_args(argv)
    gated = tuple(args.only or GATED)
    if args.limit_only:
        from bench.__main__ import DEFAULT_PHOTO

        chosen = chosen_variants()
        print(f"limit on {DEFAULT_PHOTO.name}, chosen {chosen}: {limits(args.models, chosen, DEFAULT_PHOTO)}")
        return 0
    if args.write and (args.skip_speed or args.only):
        p.error("--write chooses every model by speed: drop --skip-speed and --only")
    variants = ["bf16", "int8"] if bf16_supported() else ["int8"]
    if not bf16_supported():
        print("this CPU does not report BF16 to OpenVINO: int8 only")
    root = data_root(args.calibration_data)
    for name in gated:
        quantize(args.models, name, root)
    split = read_split(Path("reports/attributes_split.csv")) if gated != ("segmenter",) else {}  # product models'
    test = [i for i, part in split.items() if part == "test"]
    products = [SHARED / "fashion_products" / "images" / f"{i}.jpg" for i in test]
    truth = {r["id"]: r for r in csv.DictReader(open(SHARED / "fashion_products" / "styles.csv"))}
    val = mask_map.val_stems()
    street = [SHARED / "street_photos" / "photos" / f"{i}.jpg" for i in val]
    times = {} if args.skip_speed else speed(args.models, street, ["fp32", *variants], gated)
    if times:
        print("| model | " + " | ".join(f"{v} b1 ms | {v} b8 ms" for v in ["fp32", *variants]) + " |")
        print("|---|" + "---:|" * (2 * (1 + len(variants))))
        for name, t in times.items():
            cells = " | ".join(f"{t[f'{v} b1']} | {t[f'{v} b8']}" for v in ["fp32", *variants])
            print(f"| {name} | {cells} |")
    if args.speed_only:
        return 0
    gates = Gates(args.models, products, truth, street, mask_map.ground_truth(SHARED / "street_photos", val))
    results = {name: {v: getattr(gates, name)(v) for v in variants} for name in gated}
    for name, by_variant in results.items():
        for v, r in by_variant.items():
            print(f"{name} {v}: {'PASS' if r['pass'] else 'FAIL'} {r}")
    if args.write:
        choice, fallback = {}, {}
        for name, by_variant in results.items():
            passed = ["fp32", *[v for v, r in by_variant.items() if r["pass"]]]
            best = fastest(times[name], passed)
            choice[name] = "openvino" if best == "fp32" else f"openvino {best}"
            fallback[name] = fastest(times[name], [v for v in passed if v != "int8"])
        cpu = {**load_choice().get("cpu", {}), **choice}
        update_choice({"cpu": cpu, "cpu_fallback": fallback,
                       "cpu_precision_by": "python -m bench.precision: per model the fastest of fp32/bf16/int8 "
                                           "that passed its gates; cpu_fallback: without int8 calibration photos"})
        print(f"export/backends.json cpu: {cpu}; without calibration photos: {fallback}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""int8: OpenVINO NNCF post-training quantisation of an exported fp32 IR, calibrated on training-split photos.

Calibration inputs are what the served code feeds each model (fashion.pipeline's preprocess on real photos):
- segmenter: street photos of reports/segmenter_split.csv's training part;
- attributes: product photos of reports/attributes_split.csv's training part;
- embedder: those product photos whole, and the garment crops the fp32 segmenter finds on the street photos.
The evaluation splits (segmenter validation, attributes/embedder test) are never read here; bench.precision
gates each int8 model on them. The quantised IR is written beside the fp32 one (<stem>.int8.xml); the manifest
then names it, and keeps the fp32 file's name for the gates (`fp32_artifact`; only the int8 file is archived).
"""
from __future__ import annotations

import csv
import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from fashion.manifest import MANIFEST_SUFFIX, Manifest

log = logging.getLogger("export")
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REPORTS = Path(__file__).resolve().parents[1] / "reports"
PHOTOS = {"street": ("street_photos/photos", "segmenter_split.csv", "train"),
          "products": ("fashion_products/images", "attributes_split.csv", "train")}
CALIBRATION_SIZE = {"segmenter": 150, "attributes": 200, "embedder": 300}  # inputs per model (NNCF: ~300 is plenty)
STREET_FOR_CROPS = 60  # street photos whose garment crops join the embedder's calibration
CPU = torch.device("cpu")


class NoCalibrationData(RuntimeError):
    """int8 was asked for and no calibration photos were found."""


def data_root(given: str | os.PathLike | None = None) -> Path:
    """--calibration-data, else env FASHION_CALIBRATION_DATA, else ../shared/data."""
    return Path(given or os.environ.get("FASHION_CALIBRATION_DATA") or DEFAULT_DATA)


def photos(root: Path, kind: str, limit: int) -> list[Path]:
    """Up to `limit` training-split photos of one kind (street | products) present under root, in split order."""
    folder, split, part = PHOTOS[kind]
    with open(REPORTS / split, newline="") as f:
        ids = [r["id"] for r in csv.DictReader(f) if r["split"] == part]
    found = (root / folder / f"{i}.jpg" for i in ids)
    return [p for p in found if p.is_file()][:limit]


def _rgb(paths: list[Path]) -> list[Image.Image]:
    return [Image.open(p).convert("RGB") for p in paths]


def reference_runner(directory: Path, name: str, fp32: bool = False) -> tuple[Any, Manifest]:
    """A model as export converted and parity-checked it: an int8 model's fp32 IR, any other its own artifact
    (`fp32`: the converted IR at fp32 whatever the served precision, e.g. a bf16 segmenter)."""
    from fashion.backends import load_runner

    manifest = Manifest.load(directory / f"{name}{MANIFEST_SUFFIX}")
    if fp32 or manifest.precision == "int8":
        return load_runner(directory / manifest.fp32_artifact, manifest.backend, CPU), manifest
    return load_runner(directory / manifest.artifact, manifest.backend, CPU, precision=manifest.precision), manifest


def calibration_inputs(name: str, directory: Path, root: Path) -> list[np.ndarray]:
    """One model's calibration batches (one input each), preprocessed by the served code from `directory`."""
    from fashion.stages.attributes import AttributeClassifier
    from fashion.stages.embed import Embedder
    from fashion.stages.segment import Segmenter

    n = CALIBRATION_SIZE[name]
    if name == "segmenter":
        seg = Segmenter(*reference_runner(directory, "segmenter"), CPU)
        return [seg.preprocess([im])[0].numpy() for im in _rgb(photos(root, "street", n))]
    if name == "attributes":
        attr = AttributeClassifier(*reference_runner(directory, "attributes"), CPU)
        return [attr.preprocess([im]).numpy() for im in _rgb(photos(root, "products", n))]
    if name == "embedder":
        emb = Embedder(*reference_runner(directory, "embedder"), CPU)
        inputs = [emb.preprocess([im])[0].numpy() for im in _rgb(photos(root, "products", n // 2))]
        if (directory / f"segmenter{MANIFEST_SUFFIX}").is_file():
            seg = Segmenter(*reference_runner(directory, "segmenter"), CPU)
            for image in _rgb(photos(root, "street", STREET_FOR_CROPS)):
                batch, frames = seg.preprocess([image])
                garments = seg.postprocess(*seg.predict(batch), frames, [image.size])[0]
                if garments:
                    crops = emb.preprocess([image], [garments])[0][1:]
                    inputs += [c[None].numpy() for c in crops]
        return inputs[:n]
    raise ValueError(f"no calibration recipe for {name!r}")


# Operation types left in float per model. The segmenter's EfficientNet-Lite trunk: its depthwise convolutions
# (OpenVINO's GroupConvolution) lose the most in 8 bits (per-channel weights of 3x3 kernels, one channel each);
# quantised with the rest, its int8 mask mAP50 fell 0.013 below fp32 (bench.precision's gate is 0.01).
FLOAT_TYPES: dict[str, list[str]] = {"segmenter": ["GroupConvolution"]}
# NNCF presets per model: "mixed" quantises activations asymmetrically (the neck's SiLU outputs reach below 0)
PRESETS: dict[str, str] = {"segmenter": "mixed"}


def quantize_ir(source: Path, target: Path, inputs: list[np.ndarray], name: str) -> None:
    """NNCF's default post-training quantisation (8-bit weights and activations, fast bias correction), the
    operation types FLOAT_TYPES names left in float; the ViTs with its transformer preset (SmoothQuant; softmax and
    layer norms stay in float)."""
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(source))
    present = {op.get_type_name() for op in model.get_ops()}
    kept = [t for t in FLOAT_TYPES.get(name, []) if t in present]
    quantized = nncf.quantize(model, nncf.Dataset(inputs), subset_size=len(inputs),
                              model_type=None if name == "segmenter" else nncf.ModelType.TRANSFORMER,
                              ignored_scope=nncf.IgnoredScope(types=kept) if kept else None,
                              preset=nncf.QuantizationPreset.MIXED if PRESETS.get(name) == "mixed" else None)
    ov.save_model(quantized, str(target), compress_to_fp16=False)


def int8_name(artifact: str) -> str:
    return str(Path(artifact).with_suffix("")) + ".int8.xml"


def quantize(directory: Path, name: str, root: Path) -> tuple[Path, int]:
    """Write `name`'s int8 IR beside its fp32 one in `directory`: (its path, calibration inputs). The manifest is
    not changed (bench.precision gates the file; `adopt` makes it the served artifact)."""
    manifest = Manifest.load(directory / f"{name}{MANIFEST_SUFFIX}")
    if manifest.backend != "openvino":
        raise ValueError(f"{name}: int8 needs the openvino backend, not {manifest.backend}")
    start = time.perf_counter()
    inputs = calibration_inputs(name, directory, root)
    if not inputs:
        raise NoCalibrationData(f"{name}: no training-split photos under {root} to calibrate int8 on "
                                "(--calibration-data / FASHION_CALIBRATION_DATA)")
    target = directory / int8_name(manifest.fp32_artifact)
    quantize_ir(directory / manifest.fp32_artifact, target, inputs, name)
    log.info("%s: quantised to int8 on %d calibration inputs in %.1fs (%s)", name, len(inputs),
             time.perf_counter() - start, target.name)
    return target, len(inputs)


def adopt(directory: Path, name: str, root: Path) -> Manifest:
    """Quantise and make the int8 IR the model's served artifact (its manifest says so)."""
    target, count = quantize(directory, name, root)
    manifest = Manifest.load(directory / f"{name}{MANIFEST_SUFFIX}")
    settings: dict[str, Any] = {**manifest.settings, "precision": "int8", "fp32_artifact": manifest.fp32_artifact,
                                "calibration": {"inputs": count, "from": "training-split photos (export/quantize.py)"}}
    manifest = dataclasses.replace(manifest, artifact=target.name, settings=settings)
    manifest.save(directory)
    return manifest


def stage(dest: Path, root: Path) -> int:
    """Copy the photos calibration reads (every model's) into dest, laid out like root: `make image` bakes
    nothing else in (the build context has no ../shared). Returns how many were copied."""
    import shutil

    wanted = {*photos(root, "street", max(CALIBRATION_SIZE["segmenter"], STREET_FOR_CROPS)),
              *photos(root, "products", max(CALIBRATION_SIZE["attributes"], CALIBRATION_SIZE["embedder"] // 2))}
    shutil.rmtree(dest, ignore_errors=True)
    for path in sorted(wanted):
        target = dest / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return len(wanted)


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="python -m export.quantize stage DEST: the int8 calibration photos "
                                            "copied out (for `make image`)")
    p.add_argument("command", choices=["stage"])
    p.add_argument("dest", type=Path)
    p.add_argument("--calibration-data", default=None, help="default: FASHION_CALIBRATION_DATA, then ../shared/data")
    args = p.parse_args(argv)
    count = stage(args.dest, data_root(args.calibration_data))
    print(f"{count} calibration photos in {args.dest}" if count else
          f"no calibration photos under {data_root(args.calibration_data)}: int8 models will export in their "
          "fallback precision")
    args.dest.mkdir(parents=True, exist_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

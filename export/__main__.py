"""CLI: python -m export [models|archives|all] ...  (see docs/weights.md and docs/performance.md, `make archives`)."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from PIL import Image

from export._trace import quiet_onnx_logs
from export.choice import choose
from fashion.models import NAMES
from fashion.backends import BACKENDS, PRECISIONS
from fashion.nets.embedder_model import ARCHITECTURE as DEFAULT_CLIP_MODEL

log = logging.getLogger("export")
DEFAULT_CHECK_IMAGES = (Path("../shared/data/street_photos/photos/0001.jpg"),)


def _check_image(path: str | None) -> Image.Image:
    """A real photo to check each traced model against its eager twin."""
    from fashion.request.decode import decode_image

    candidates = [Path(path)] if path else list(DEFAULT_CHECK_IMAGES)
    for p in candidates:
        if p.is_file():
            log.info("checking exports on %s", p)
            return decode_image(p.read_bytes())
    if path:
        raise FileNotFoundError(f"--check-image {path} does not exist")
    log.warning("no real photo found for the export check (pass --check-image); using a synthetic image")
    import numpy as np
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (480, 360, 3), dtype=np.uint8))


def quantize_planned(out: Path, names: set[str], calibration: str | None, target: str) -> None:
    """The int8 models quantised (export/quantize.py); without calibration photos, each takes the precision
    export/backends.json names as its fallback (bf16 or fp32), said loudly."""
    from dataclasses import replace

    from export.choice import fallback
    from export.quantize import NoCalibrationData, adopt, data_root
    from fashion.manifest import MANIFEST_SUFFIX, Manifest

    root = data_root(calibration)
    for name in [m for m in NAMES if m in names]:
        try:
            adopt(out, name, root)
        except NoCalibrationData as exc:
            precision = fallback(name, target)
            log.warning("%s; exporting %s in %s instead", exc, name, precision)
            manifest = Manifest.load(out / f"{name}{MANIFEST_SUFFIX}")
            replace(manifest, settings={**manifest.settings, "precision": precision}).save(out)


def export_models(args: argparse.Namespace, out: Path) -> None:
    """Every wanted model exported with its planned backend, then int8 quantised from the fp32 IR."""
    from export.options import ExportOptions
    from fashion import models as registry

    image = _check_image(args.check_image)
    wanted = set(args.only or NAMES)
    plan = {m: choose(m, args.target, args.backend, args.precision) for m in NAMES}
    log.info("backends for %s: %s", args.target, {m: f"{b} {p}" for m, (b, p) in plan.items() if m in wanted})
    options = ExportOptions(weights_dir=args.weights_dir, segmenter_weights=args.segmenter_weights,
                            imgsz=args.imgsz, clip_model=args.clip_model, clip_pretrained=args.clip_pretrained,
                            clip_weights=args.clip_weights, text=not args.no_text,
                            attributes_checkpoint=args.attributes_checkpoint)
    for spec in registry.MODELS:  # int8 is quantised from the fp32 IR once every model is exported
        if spec.name in wanted:
            backend, precision = plan[spec.name]
            spec.exporter_module().export_with(out, image, options, backend,
                                               "fp32" if precision == "int8" else precision)
    quantize_planned(out, {m for m in wanted if plan[m][1] == "int8"}, args.calibration_data, args.target)


def parser() -> argparse.ArgumentParser:
    """The command line: which step, where, which weights, which backends."""
    p = argparse.ArgumentParser(prog="python -m export", description=__doc__)
    p.add_argument("step", nargs="?", choices=["models", "archives", "all"], default="all")
    p.add_argument("--out", default="build/export", help="exported artifacts + manifests")
    p.add_argument("--store", default="model_store", help="where the .mar/.war go")
    p.add_argument("--weights-dir", default=os.environ.get("WEIGHTS_DIR"),
                   help="folder searched for local weights (env WEIGHTS_DIR)")
    p.add_argument("--segmenter-weights", help="a YOLO-seg .pt checkpoint")
    p.add_argument("--imgsz", type=int, help="segmenter input size (default: the checkpoint's training size)")
    p.add_argument("--clip-model", default=os.environ.get("CLIP_MODEL", DEFAULT_CLIP_MODEL),
                   help=f"open_clip architecture (env CLIP_MODEL; default {DEFAULT_CLIP_MODEL}, trained here and "
                        "shipped in weights/embedder.pt); e.g. ViT-B-32 or hf-hub:Marqo/marqo-fashionSigLIP")
    p.add_argument("--clip-pretrained", default=os.environ.get("CLIP_PRETRAINED"),
                   help="open_clip pretrained tag for a hub model (ViT-B-32 defaults to laion2b_s34b_b79k)")
    p.add_argument("--clip-weights", help="a local open_clip checkpoint for --clip-model (for our architecture: "
                                          "default EMBEDDER_CHECKPOINT, then embedder*.pt in WEIGHTS_DIR, weights/)")
    p.add_argument("--no-text", action="store_true", help="skip the CLIP text tower")
    p.add_argument("--attributes-checkpoint", default=os.environ.get("ATTRIBUTES_CHECKPOINT") or None,
                   help="trained attribute model from `make train-attributes` (env ATTRIBUTES_CHECKPOINT)")
    p.add_argument("--check-image", help="a real photo for the export checks")
    p.add_argument("--only", choices=list(NAMES), action="append")
    p.add_argument("--target", choices=["cpu", "cuda"], default=os.environ.get("FASHION_TARGET", "cpu"),
                   help="the device the archives are for: picks the default backend and precision (env FASHION_TARGET)")
    p.add_argument("--backend", action="append", default=[], metavar="[MODEL=]BACKEND",
                   help=f"auto (default: export/backends.json, chosen by `python -m bench backends`) or one of "
                        f"{', '.join(BACKENDS)}, for every model or one (repeat: --backend embedder=openvino)")
    p.add_argument("--precision", choices=list(PRECISIONS),
                   help="for every model: fp16 (TorchScript, for CUDA), bf16 or int8 (OpenVINO) or fp32; default: "
                        "export/backends.json's choice per model for --backend auto, else fp32")
    p.add_argument("--calibration-data", default=None,
                   help="int8: a folder laid out like ../shared/data (street_photos/photos, fashion_products/images) "
                        "holding training-split photos (env FASHION_CALIBRATION_DATA; default ../shared/data)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")  # ultralytics must never pip-install during export
    os.environ.setdefault("YOLO_OFFLINE", "true")  # nor phone home
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    quiet_onnx_logs()

    out, store = Path(args.out), Path(args.store)
    if args.step in ("models", "all"):
        export_models(args, out)
    if args.step in ("archives", "all"):
        from export.archive import build_all

        for path in build_all(out, store, out.parent / "archive"):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

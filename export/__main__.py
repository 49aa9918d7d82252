"""CLI: python -m export [models|archives|all] ...  (see README, `make archives`)."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from PIL import Image

from export._trace import quiet_onnx_logs
from export.choice import MODELS, choose
from fashion.backends import BACKENDS, PRECISIONS
from fashion.embedder_model import ARCHITECTURE as DEFAULT_CLIP_MODEL

log = logging.getLogger("export")
DEFAULT_CHECK_IMAGES = (Path("../shared/data/street_photos/photos/0001.jpg"),)


def _check_image(path: str | None) -> Image.Image:
    """A real photo to check each traced model against its eager twin."""
    from fashion.decode import decode_image

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


def main(argv: list[str] | None = None) -> int:
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
    p.add_argument("--only", choices=list(MODELS), action="append")
    p.add_argument("--target", choices=["cpu", "cuda"], default=os.environ.get("FASHION_TARGET", "cpu"),
                   help="the device the archives are for: picks the default backend and precision (env FASHION_TARGET)")
    p.add_argument("--backend", action="append", default=[], metavar="[MODEL=]BACKEND",
                   help=f"auto (default: export/backends.json, chosen by `python -m bench backends`) or one of "
                        f"{', '.join(BACKENDS)}, for every model or one (repeat: --backend embedder=openvino)")
    p.add_argument("--precision", choices=list(PRECISIONS),
                   help="fp16 (TorchScript, for CUDA) or fp32 for every model; default: export/backends.json's "
                        "choice per model for --backend auto, else fp32")
    args = p.parse_args(argv)
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")  # ultralytics must never pip-install during export
    os.environ.setdefault("YOLO_OFFLINE", "true")  # nor phone home
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    quiet_onnx_logs()

    out, store = Path(args.out), Path(args.store)
    if args.step in ("models", "all"):
        from export import attributes, embedder, segmenter

        image = _check_image(args.check_image)
        wanted = set(args.only or MODELS)
        plan = {m: choose(m, args.target, args.backend, args.precision) for m in MODELS}
        log.info("backends for %s: %s", args.target, {m: f"{b} {p}" for m, (b, p) in plan.items() if m in wanted})
        if "segmenter" in wanted:
            segmenter.export(out, image, args.segmenter_weights, args.weights_dir, args.imgsz,
                             backend=plan["segmenter"][0], precision=plan["segmenter"][1])
        if "embedder" in wanted:
            embedder.export(out, image, args.clip_model, args.clip_pretrained, args.clip_weights,
                            args.weights_dir, text=not args.no_text,
                            vocabulary=attributes.vocabulary_for(args.attributes_checkpoint, args.weights_dir),
                            backend=plan["embedder"][0], precision=plan["embedder"][1])
        if "attributes" in wanted:
            attributes.export(out, image, args.attributes_checkpoint, args.weights_dir,
                              backend=plan["attributes"][0], precision=plan["attributes"][1])
    if args.step in ("archives", "all"):
        from export.archive import build_all

        for path in build_all(out, store, out.parent / "archive"):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

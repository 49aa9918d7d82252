"""python -m bench.handoff: what the workflow's segmenter node should pass on, the upload or the next models'
input pixels (fashion.request.handoff), measured on real photos: the decode each later node would pay per pixel, the
bytes of both, the envelope's pack + unpack, and which one the rule picks. A 12 MP camera-sized photo (a street
photo scaled up and re-encoded) stands for uploads larger than the catalogue's.
"""
from __future__ import annotations

import argparse
import functools
import io
import statistics
import sys
from pathlib import Path

import torch
from PIL import Image

from bench.backends import median_ms
from fashion.request import handoff
from fashion import models as registry
from fashion.request.decode import decode_image
from fashion.envelope import pack, unpack
from fashion.request.handoff import Downstream, pixels_cheaper
from fashion.pipeline import Pipeline, decode
from fashion.stages.stage import input_pixels

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def round_trip(env) -> None:
    unpack(pack(env))


def camera_photo(path: Path, megapixels: float = 12.0) -> bytes:
    image = Image.open(path).convert("RGB")
    scale = (megapixels * 1e6 / (image.width * image.height)) ** 0.5
    big = image.resize((round(image.width * scale), round(image.height * scale)), Image.BICUBIC)
    out = io.BytesIO()
    big.save(out, "JPEG", quality=90)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--models", type=Path, default=Path("build/export"))
    p.add_argument("--photos", type=int, default=20)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args(argv)
    torch.set_num_threads(1)  # a workflow node's decode runs on one thread
    pipe = Pipeline.load(args.models, torch.device("cpu"))
    downstream = Downstream.of({name: pipe[name].manifest.input for name in registry.RUN_ORDER[1:]})
    street = sorted((SHARED / "street_photos" / "photos").glob("*.jpg"))[:args.photos]
    products = sorted((SHARED / "fashion_products" / "images").glob("*.jpg"))[:args.photos]
    cases = [("street", s.read_bytes()) for s in street] + [("product", s.read_bytes()) for s in products]
    cases += [("camera 12 MP", camera_photo(street[0]))]
    rows: dict[str, list[dict]] = {}
    for kind, body in cases:
        image = decode_image(body)
        pixels = image.width * image.height
        ns = median_ms(functools.partial(decode_image, body), args.runs) * 1e6 / pixels
        env = decode({"body": body})
        pipe["segmenter"].run([env])
        garments = len(env.items[0].garments or [])
        upload = pack(env)
        pixel_env = decode({"body": body})
        pipe["segmenter"].run([pixel_env])
        for spec, crops in downstream.inputs:  # the pixel route, whatever the rule says (pipeline.hand_off)
            input_pixels(pixel_env.items[0], spec, crops)
        pixel_env.items[0].picture.keep_inputs_only()
        passed = pack(pixel_env)
        rows.setdefault(kind, []).append({
            "pixels": pixels, "decode_ns_px": ns, "upload_kb": len(upload) / 1024, "pixels_kb": len(passed) / 1024,
            "garments": garments, "decode_ms": ns * pixels / 1e6,
            "pack_upload_ms": median_ms(functools.partial(round_trip, env), args.runs),
            "pack_pixels_ms": median_ms(functools.partial(round_trip, pixel_env), args.runs),
            "picks_pixels": pixels_cheaper(len(body), pixels, downstream.pixel_bytes(garments))})
    print(f"rule: {handoff.HOPS} hops x (bytes x {handoff.HOP_NS_PER_BYTE} ns + pixels x "
          f"{handoff.DECODE_NS_PER_PIXEL} ns decode) for the upload, against hops x bytes x "
          f"{handoff.HOP_NS_PER_BYTE} ns for the pixels")
    print("| photos | n | megapixels | decode ns/pixel | decode ms | garments | envelope KB: upload | pixels | "
          "pack+unpack ms: upload | pixels | rule picks pixels |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for kind, rs in rows.items():
        med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        print(f"| {kind} | {len(rs)} | {med['pixels'] / 1e6:.2f} | {med['decode_ns_px']:.2f} | "
              f"{med['decode_ms']:.2f} | {med['garments']:.0f} | {med['upload_kb']:.0f} | {med['pixels_kb']:.0f} | "
              f"{med['pack_upload_ms']:.2f} | {med['pack_pixels_ms']:.2f} | "
              f"{sum(r['picks_pixels'] for r in rs)}/{len(rs)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

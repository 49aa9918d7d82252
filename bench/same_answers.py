"""python -m bench.same_answers: the in-process pipeline's responses on real photos, saved (--out) or compared
(--compare A B): does a change keep the answers? Issue 12's bar for the one-pass work: the same garment labels,
mask IoU >= 0.99 per garment, embeddings (whole image and garments) cosine >= 0.999, the same metadata; and
whether every response is byte for byte the same (a refactor's bar). Run it with each code version against the
same archives (--models) and compare the two files. --products adds catalogue product shots; --options sends
request options with every photo (e.g. '{"labels": ["red", "blue"], "prompt": "the shoes"}').
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from fashion.garments.masks import decode_rle

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def save(models: Path, photos: list[Path], out: Path, options: dict | None = None) -> None:
    import base64

    import torch

    from fashion.pipeline import Pipeline

    pipe = Pipeline.load(models, torch.device("cpu"))
    with open(out, "w") as f:
        for path in photos:
            body = (path.read_bytes() if options is None else
                    json.dumps({"b64": base64.b64encode(path.read_bytes()).decode(), **options}).encode())
            payload, status = pipe([{"body": body}])[0]
            f.write(json.dumps({"photo": path.name, "status": status, "response": payload}) + "\n")


def _cos(a: list, b: list) -> float:
    x, y = np.asarray(a), np.asarray(b)
    return float(x @ y / max(np.linalg.norm(x) * np.linalg.norm(y), 1e-12))


def compare(a: Path, b: Path) -> dict:
    rows = [(json.loads(x), json.loads(y)) for x, y in zip(open(a), open(b))]
    same_labels, ious, cosines, same_meta, same_colour, garments = [], [], [], [], [], 0
    for x, y in rows:
        rx, ry = x["response"], y["response"]
        gx, gy = rx.get("garments", []), ry.get("garments", [])
        same_labels.append([g["label"] for g in gx] == [g["label"] for g in gy])
        cosines.append(_cos(rx["embedding"], ry["embedding"]))
        same_meta.append({k: v["label"] for k, v in rx["metadata"].items() if isinstance(v, dict)}
                         == {k: v["label"] for k, v in ry["metadata"].items() if isinstance(v, dict)})
        if same_labels[-1]:
            for p, q in zip(gx, gy):
                m, n = decode_rle(p["mask"]), decode_rle(q["mask"])
                ious.append(float((m & n).sum() / max((m | n).sum(), 1)))
                cosines.append(_cos(p["embedding"], q["embedding"]))
                same_colour.append((p["colour"] or {}).get("name") == (q["colour"] or {}).get("name"))
                garments += 1
    return {"photos": len(rows), "same_labels": float(np.mean(same_labels)), "garments": garments,
            "min_mask_iou": min(ious) if ious else None, "min_cosine": min(cosines),
            "same_metadata": float(np.mean(same_meta)), "same_colour": float(np.mean(same_colour)) if same_colour
            else None, "identical": sum(x == y for x, y in rows)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=Path, default=Path("build/export"))
    p.add_argument("--photos", type=int, default=100, help="street photos, in name order")
    p.add_argument("--products", type=int, default=0, help="catalogue product shots too, in name order")
    p.add_argument("--options", type=json.loads, help="request options sent with every photo (JSON object)")
    p.add_argument("--out", type=Path)
    p.add_argument("--compare", type=Path, nargs=2, metavar=("A", "B"))
    args = p.parse_args(argv)
    if args.compare:
        result = compare(*args.compare)
        print(json.dumps(result))
        ok = (result["same_labels"] == 1.0 and (result["min_mask_iou"] or 1.0) >= 0.99
              and result["min_cosine"] >= 0.999)
        print(f"{result['identical']} of {result['photos']} responses byte for byte the same")
        print("SAME" if ok else "DIFFERENT")
        return 0 if ok else 1
    photos = (sorted((SHARED / "street_photos" / "photos").glob("*.jpg"))[:args.photos]
              + sorted((SHARED / "fashion_products" / "images").glob("*.jpg"))[:args.products])
    save(args.models, photos, args.out, args.options)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""python -m bench.stall_probe: mixed concurrent load on the workflow (normal, embedding_only and bad
requests), counting responses slower than 3x the median: TorchServe 0.12's lost-response stall."""
from __future__ import annotations

import argparse
import base64
import concurrent.futures
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from fashion import models as registry
from launcher import torchserve as ts
from fashion.samples import synthetic_jpeg


ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT.parent / "shared" / "data" / "street_photos" / "photos" / "0005.jpg"


def bodies(photo: bytes) -> dict[str, tuple[bytes, str]]:
    b64 = base64.b64encode(photo).decode()
    return {"full": (photo, "image/jpeg"),
            "embedding_only": (json.dumps({"b64": b64, "embedding_only": True}).encode(), "application/json"),
            "bad": (b"definitely not an image", "application/octet-stream")}


def run(url: str, photo: bytes, clients: int, per_client: int) -> dict[str, list[float]]:
    kinds = list(bodies(photo).items())

    def client(i: int) -> list[tuple[str, int, float]]:
        out = []
        with httpx.Client(timeout=120) as http:
            for j in range(per_client):
                kind, (body, ct) = kinds[(i + j) % len(kinds)]
                start = time.perf_counter()
                status = http.post(url, content=body, headers={"Content-Type": ct}).status_code
                out.append((kind, status, time.perf_counter() - start))
        return out

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        rows = [r for rs in pool.map(client, range(clients)) for r in rs]
    by_kind: dict[str, list[float]] = {}
    for kind, status, latency in rows:  # a bad request's real 415 (on /predictions) is its right answer
        ok = status == 200 or (kind == "bad" and status == 415)
        by_kind.setdefault(kind, []).append(latency if ok else float("inf"))
    return by_kind


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--per-client", type=int, default=30)
    p.add_argument("--photo", type=Path, default=PHOTO,
                   help="a camera-sized photo makes the workflow hand off pixels (fashion.request.handoff)")
    args = p.parse_args()
    photo = args.photo.read_bytes()
    with tempfile.TemporaryDirectory() as tmp, ts.temporary_server(
            ROOT / "config.properties", ROOT / "model_store", Path(tmp), list(registry.SERVED),
            synthetic_jpeg()) as urls:
        for path in (registry.WORKFLOW_PATH, registry.ENSEMBLE_PATH):
            by_kind = run(urls["inference"] + path, photo, args.clients, args.per_client)
            everything = [x for xs in by_kind.values() for x in xs]
            median = statistics.median(everything)
            for kind, lat in by_kind.items():
                slow = sum(x > 3 * median for x in lat)
                print(f"{path} {kind:15s} n={len(lat):3d} median={statistics.median(lat):.2f}s "
                      f"max={max(lat):.2f}s slower-than-3x-median={slow}")
        timeouts = (Path(urls["logs"]) / "ts_log.log").read_text().count("Timed out while executing")
        print(f"node timeouts logged by TorchServe: {timeouts}")


if __name__ == "__main__":
    main()

"""python -m client URL photo.jpg [...]: send photos to a deployed endpoint; print the JSON answer.
python -m client overlay photo.jpg [--url URL | --response answer.json]: a PNG of the garments on the photo.

URL: a Vertex AI endpoint's predict URL
(https://REGION-aiplatform.googleapis.com/v1/projects/PROJECT/locations/REGION/endpoints/ENDPOINT_ID:predict)
or any server of this package (the Vertex adapter's predict route, or TorchServe's /predictions/fashion).
Images are shrunk only as far as needed to keep the request under --max-bytes (Vertex's shared endpoints
accept 1.5 MB). The access token comes from --token, $GOOGLE_ACCESS_TOKEN, or `gcloud auth print-access-token`
for *.googleapis.com URLs.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import httpx

from client.auth import access_token
from client.payload import vertex_body
from fashion import models as registry
from fashion.request.limits import VERTEX_REQUEST_BYTES


def _overlay(argv: list[str]) -> int:
    from client.overlay import overlay

    p = argparse.ArgumentParser(prog="python -m client overlay",
                                description="draw each garment's mask, box, label and colour on the photo (PNG)")
    p.add_argument("photo", type=Path)
    p.add_argument("--url", default="http://127.0.0.1:8080" + registry.ENSEMBLE_PATH, help="the endpoint to ask")
    p.add_argument("--response", type=Path, help="a saved JSON answer for this photo instead of asking")
    p.add_argument("--out", type=Path, help="default: PHOTO.overlay.png beside the photo")
    p.add_argument("--timeout", type=float, default=120)
    args = p.parse_args(argv)
    out = overlay(args.photo, args.out or args.photo.with_suffix(".overlay.png"), args.url, args.response,
                  args.timeout)
    print(out)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["overlay"]:
        return _overlay(argv[1:])
    p = argparse.ArgumentParser(prog="python -m client", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("url")
    p.add_argument("images", nargs="+", type=Path)
    p.add_argument("--parameters", default="{}", help='options as JSON, e.g. \'{"embedding_only": true}\'')
    p.add_argument("--max-bytes", type=int, default=VERTEX_REQUEST_BYTES,
                   help="request size limit (0: none; default: Vertex AI's shared endpoints')")
    p.add_argument("--token")
    p.add_argument("--timeout", type=float, default=120)
    args = p.parse_args(argv)
    body = vertex_body([i.read_bytes() for i in args.images], json.loads(args.parameters), args.max_bytes)
    headers = {"Content-Type": "application/json"}
    token = access_token(args.url, args.token)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    r = httpx.post(args.url, content=body, headers=headers, timeout=args.timeout)
    print(json.dumps(r.json(), indent=1) if r.headers.get("content-type", "").startswith("application/json")
          else r.text)
    return 0 if r.status_code == 200 else 1


if __name__ == "__main__":
    sys.exit(main())

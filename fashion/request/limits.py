"""Every request limit, in one place: parsed once from the environment into a frozen object (on first use, never at
import). Each field's environment variable is its name in capitals (`MAX_IMAGE_SIDE=4096`); the limits table in
docs/configuration.md lists them all.

- Requests: images per request, body bytes (config.properties' max_request_size: TorchServe refuses bigger bodies
  first; a test keeps the two equal).
- HTTP, read by the front door before any work (launcher.http_guard, launcher.http_server): URL length, query
  parameters, header bytes and count, deadlines for the headers and the body (a slow client is cut off with 408
  and never holds an in-flight slot).
- Parsing and options: JSON keys, objects/lists and nesting depth (upper bounds counted at memory speed, exact only past
  them: fashion.request.json_bounds); embedder texts and their characters; labels, prompt, garments, search hits and
  vector size; multipart parts.
- Decoding (fashion.request.decode, checked from the file's structure before any pixel is decoded): pixels, TIFF
  strips or tiles, JPEG scans, GIF/WebP frames, PNG chunks and text metadata, and a time budget per image decode.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from typing import Mapping


# Vertex AI's public shared endpoints refuse larger requests (1.5 MiB): the front door's predict route, the
# client and the catalogue job's HTTP engine keep requests under it.
VERTEX_REQUEST_BYTES = 1_572_864


@dataclasses.dataclass(frozen=True)
class Limits:
    # requests
    max_batch_images: int = 16
    max_request_bytes: int = 64 * 1024 * 1024
    # HTTP (the front door)
    max_url_bytes: int = 8192  # path and query string together (414 past it)
    max_query_params: int = 32  # 414 past it
    max_header_bytes: int = 16384  # request line and headers together (431 past it)
    max_headers: int = 64  # 431 past it
    header_timeout_s: float = 10.0  # from the first byte of a request to its last header (408, connection closed)
    body_timeout_s: float = 30.0  # the whole body, once the headers are in (408, connection closed)
    # parsing
    max_json_keys: int = 1000
    max_json_containers: int = 1000  # objects and lists in one JSON body
    max_json_depth: int = 32
    max_text_chars: int = 1000  # per embedder text (CLIP reads 77 tokens: ~300 characters of English)
    max_texts: int = 256  # embedder texts per request
    max_labels: int = 64  # option "labels"
    max_label_chars: int = 80  # per label, and the option "prompt"
    max_garments: int = 100  # the highest "max_garments" a request may ask for
    max_search_k: int = 100  # hits per /search
    max_vector_dim: int = 4096  # a /search query vector
    max_multipart_parts: int = 64
    # decoding
    max_image_side: int = 8192
    max_image_pixels: int = 40_000_000
    max_tiff_strips: int = 16384  # strips or tiles in one TIFF image
    max_tiff_tags: int = 512  # entries in one TIFF image directory (a photo has about 20)
    max_jpeg_scans: int = 64  # progressive JPEGs have about 10
    max_frames: int = 1000  # GIF / WebP / TIFF frames (only the first is decoded)
    max_png_chunks: int = 1000  # chunks before the image data
    max_png_text_bytes: int = 1024 * 1024  # text metadata, decompressed, in all
    decode_budget_s: float = 2.0  # wall time for one image's decode

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Limits":
        env = os.environ if env is None else env
        types = {"int": int, "float": float}
        return cls(**{f.name: types[str(f.type)](env.get(f.name.upper(), f.default))
                      for f in dataclasses.fields(cls)})


@functools.lru_cache(maxsize=1)
def limits() -> Limits:
    return Limits.from_env()

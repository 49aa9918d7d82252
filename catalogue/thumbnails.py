"""A catalogue product's thumbnail: its indexed source image read again (a local file, a URL or an fsspec URI),
decoded with the same bounds as a request's image, shrunk to THUMBNAIL_SIDE and encoded as JPEG.

Only sources the index names are read (CatalogueIndex.sources, keyed by product id): a caller names a product,
never a path.
"""
from __future__ import annotations

import io

import httpx

from catalogue.enrich import read_image
from catalogue.sources import Record
from fashion.request.decode import decode_image
from fashion.errors import RequestError

THUMBNAIL_SIDE = 192  # pixels on the longer side
JPEG_QUALITY = 82


class Unreadable(OSError):
    """The index names this source, but it cannot be read or decoded now."""


def thumbnail(product_id: str, source: str, http: httpx.Client | None = None, side: int = THUMBNAIL_SIDE) -> bytes:
    """JPEG bytes of the product's image, at most `side` pixels on its longer side."""
    data = read_image(Record(product_id, source), http)
    if isinstance(data, dict):
        raise Unreadable(data["message"])
    try:
        image = decode_image(data)
    except RequestError as exc:  # the decoder's refusal (corrupt, too large): the source's fault
        raise Unreadable(f"the image of {product_id!r} cannot be decoded ({exc})") from None
    image.thumbnail((side, side))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()

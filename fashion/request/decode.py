"""decode: encoded image bytes -> an RGB PIL image, every limit checked before the work it bounds.

Before any decoder runs: the file's structure (fashion.request.image_structure: TIFF strips, JPEG scans, PNG chunks);
from the header: pixels and sides, frames; while decoding: a wall-time budget (DECODE_BUDGET_S), checked on
every read the decoder makes from the bytes and between the steps; PNG text metadata capped by Pillow's own
MAX_TEXT_CHUNK / MAX_TEXT_MEMORY, set from the limits.
"""
from __future__ import annotations

import io
import sys
import time
import warnings

import simplejpeg
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from fashion.errors import InvalidInput, PayloadTooLarge, Unprocessable, UnsupportedMedia
from fashion.request.image_structure import check_structure
from fashion.request.limits import Limits, limits

ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF"})
MIN_IMAGE_SIDE = 8


def _pillow_open():
    """Pillow's own Image.open. Importing ultralytics replaces Image.open, process-wide, with a wrapper that
    pip-installs pi-heif when Pillow cannot identify a file: never that while decoding a request."""
    patches = sys.modules.get("ultralytics.utils.patches")
    return getattr(patches, "_image_open", Image.open) if patches is not None else Image.open


class DecodeTimeout(Unprocessable):
    """The decode took longer than its budget (a 422: the file is valid but too costly)."""


class _Budgeted(io.BytesIO):
    """The encoded bytes as a file whose every read checks the decode's deadline."""

    def __init__(self, data: bytes, deadline: float, budget_s: float) -> None:
        super().__init__(data)
        self.deadline, self.budget_s = deadline, budget_s

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise DecodeTimeout(f"decoding the image took longer than its budget of {self.budget_s:g} s "
                                "(DECODE_BUDGET_S); send a simpler file (baseline JPEG or PNG)")

    def read(self, size: int | None = -1) -> bytes:
        self.check()
        return super().read(size)


def _apply_pillow_limits(bounds: Limits) -> None:
    PngImagePlugin.MAX_TEXT_CHUNK = bounds.max_png_text_bytes
    PngImagePlugin.MAX_TEXT_MEMORY = bounds.max_png_text_bytes


def decode_image(data: bytes) -> Image.Image:
    """Open, check and fully decode one image; EXIF orientation applied, converted to RGB."""
    if not data:
        raise InvalidInput("the image is empty (0 bytes); send the image file's bytes")
    bounds = limits()
    check_structure(data, bounds)
    _apply_pillow_limits(bounds)
    source = _Budgeted(data, time.monotonic() + bounds.decode_budget_s, bounds.decode_budget_s)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = _pillow_open()(source, formats=sorted(ALLOWED_FORMATS))
    except UnidentifiedImageError:
        raise UnsupportedMedia(
            f"the body is not an image Pillow can read ({len(data)} bytes, starting {data[:8]!r}); "
            f"send one of {', '.join(sorted(ALLOWED_FORMATS))}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PayloadTooLarge(f"the image has too many pixels; the limit is {limits().max_image_pixels}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # a known format whose header is broken
        raise InvalidInput(f"the image header is corrupt or truncated ({exc}); send the complete file") from None
    width, height = image.size
    if max(width, height) > limits().max_image_side or width * height > limits().max_image_pixels:
        raise PayloadTooLarge(
            f"image is {width}x{height} pixels; the limit is {limits().max_image_side} on each side and "
            f"{limits().max_image_pixels} in all (set MAX_IMAGE_SIDE / MAX_IMAGE_PIXELS to change it)")
    if min(width, height) < MIN_IMAGE_SIDE:
        raise InvalidInput(f"image is {width}x{height} pixels; each side must be at least {MIN_IMAGE_SIDE}")
    if image.format in ("GIF", "WEBP") and getattr(image, "n_frames", 1) > bounds.max_frames:
        raise Unprocessable(f"the {image.format} has {image.n_frames} frames; the limit is {bounds.max_frames} "
                            "(MAX_FRAMES)")
    try:
        if image.format == "JPEG":
            image = _decode_jpeg(image, data)
        image.load()
        source.check()
        image = ImageOps.exif_transpose(image) or image
        return _to_rgb(image)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidInput(f"the image is corrupt or truncated ({exc}); send the complete file") from None


def _decode_jpeg(image: Image.Image, data: bytes) -> Image.Image:
    """JPEG pixels through libjpeg-turbo with its warnings as errors (simplejpeg's strict mode: the same pixels as
    Pillow's decoder, which ignores them). Corrupt entropy-coded data, a premature end or zeroed quantisation
    tables decode "successfully" into garbage; a catalogue job must be able to tell, so they are a 422."""
    tables = getattr(image, "quantization", None) or {}
    if any(0 in table for table in tables.values()):
        raise Unprocessable("the JPEG's quantisation tables hold zeros (a corrupt header): its pixels would decode "
                            "as garbage; send the original file")
    if image.mode not in ("RGB", "L"):  # CMYK / YCCK: Pillow converts those; libjpeg-turbo cannot
        return image
    try:
        pixels = simplejpeg.decode_jpeg(data, colorspace="RGB", strict=True)
    except ValueError as exc:
        raise Unprocessable(f"the JPEG data is corrupt ({exc}); part of the image would be garbage - send the "
                            "complete, original file") from None
    decoded = Image.fromarray(pixels)
    if "exif" in image.info:
        decoded.info["exif"] = image.info["exif"]  # exif_transpose reads the orientation from it
    return decoded


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return image.point(lambda v: v / 256).convert("L").convert("RGB")
    return image.convert("RGB")

"""decode_image: modes, orientation, limits checked before full decoding, corrupt files."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from fashion.request.decode import decode_image
from fashion.errors import InvalidInput, PayloadTooLarge, Unprocessable, UnsupportedMedia
from fashion.request.limits import limits
from tests.hostile import gif_frames, jpeg_scans, png_chunks, tiff_strips, zero_tables

MAX_IMAGE_SIDE = limits().max_image_side


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


@pytest.mark.parametrize("mode,fmt", [("RGB", "JPEG"), ("L", "PNG"), ("CMYK", "JPEG"), ("P", "PNG"),
                                      ("RGB", "WEBP"), ("I;16", "PNG")])
def test_modes_become_rgb(mode, fmt):
    image = decode_image(encode(Image.new(mode, (40, 30)), fmt))
    assert image.mode == "RGB" and image.size == (40, 30)


def test_alpha_is_composited_on_white():
    rgba = Image.new("RGBA", (20, 20), (255, 0, 0, 0))
    assert decode_image(encode(rgba, "PNG")).getpixel((5, 5)) == (255, 255, 255)


def test_sixteen_bit_keeps_brightness():
    arr = np.full((16, 16), 65535, dtype=np.uint16)
    assert decode_image(encode(Image.fromarray(arr), "PNG")).getpixel((0, 0)) == (255, 255, 255)


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (60, 20))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees
    assert decode_image(encode(image, "JPEG", exif=exif)).size == (20, 60)


def test_too_large_is_refused_before_decoding():
    big = encode(Image.new("L", (MAX_IMAGE_SIDE + 1, 8)), "PNG")
    with pytest.raises(PayloadTooLarge, match="MAX_IMAGE_SIDE"):
        decode_image(big)


@pytest.mark.parametrize("data,error", [(b"", InvalidInput), (b"GIF89a-garbage", UnsupportedMedia),
                                        (b"<html></html>", UnsupportedMedia)])
def test_bad_bytes(data, error):
    with pytest.raises(error):
        decode_image(data)


def test_truncated_jpeg_is_unprocessable():
    data = encode(Image.new("RGB", (200, 200), (10, 200, 30)), "JPEG")
    with pytest.raises(Unprocessable, match="Premature end"):
        decode_image(data[: len(data) // 2])


def _photo() -> bytes:
    rng = np.random.default_rng(0)
    return encode(Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).resize((320, 240)), "JPEG")


@pytest.mark.parametrize("corrupt,words", [
    (lambda d: zero_tables(d, 0xDB, 1), "quantisation tables hold zeros"),
    (lambda d: zero_tables(d, 0xC4, 17), "Corrupt JPEG data"),
    (lambda d: d[:2000] + bytes(1500) + d[3500:], "Corrupt JPEG data"),
])
def test_jpeg_that_decodes_into_garbage_is_unprocessable(corrupt, words):
    """Pillow decodes these without a word; libjpeg's warnings (or zero quantisers) make them a 422."""
    good = _photo()
    assert decode_image(good).size == (320, 240)
    with pytest.raises(Unprocessable, match=words):
        decode_image(corrupt(good))


def test_jpeg_pixels_equal_pillows_and_follow_exif_orientation():
    image = Image.fromarray(np.random.default_rng(1).integers(0, 255, (60, 80, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90
    data = encode(image, "JPEG", exif=exif.tobytes())
    ours = decode_image(data)
    pillow = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    assert ours.size == (60, 80) and np.array_equal(np.asarray(ours), np.asarray(pillow))
    grey = decode_image(encode(image.convert("L"), "JPEG"))
    cmyk = decode_image(encode(image.convert("CMYK"), "JPEG"))
    assert grey.mode == cmyk.mode == "RGB"


def test_tiny_image_refused():
    with pytest.raises(InvalidInput, match="at least"):
        decode_image(encode(Image.new("RGB", (1, 1)), "PNG"))


def test_decoding_survives_ultralytics_patching_pillow():
    """ultralytics replaces PIL.Image.open on import; bad bytes must still be a clean 415."""
    import ultralytics.utils.patches  # noqa: F401  (applies the patch)

    with pytest.raises(UnsupportedMedia):
        decode_image(b"GIF89a-garbage")


def _limits(**changes):
    import dataclasses

    from fashion.request.limits import Limits
    return dataclasses.replace(Limits(), **changes)


@pytest.mark.parametrize("build,limit", [
    (lambda photo: tiff_strips(50_000), "MAX_TIFF_STRIPS"), (lambda photo: jpeg_scans(photo, 100), "MAX_JPEG_SCANS"),
    (lambda photo: gif_frames(1200), "MAX_FRAMES"), (lambda photo: png_chunks(photo, 1500), "MAX_PNG_CHUNKS")])
def test_structural_limits_are_a_422_naming_the_limit_before_decoding(build, limit):
    photo = encode(Image.new("RGB", (64, 48), (120, 30, 30)), "JPEG")
    with pytest.raises(Unprocessable, match=limit):
        decode_image(build(photo))


def test_files_within_the_structural_limits_decode():
    photo = encode(Image.new("RGB", (64, 48), (120, 30, 30)), "JPEG")
    progressive = encode(Image.new("RGB", (64, 48), (120, 30, 30)), "JPEG", progressive=True)
    assert decode_image(progressive).size == (64, 48)
    assert decode_image(png_chunks(photo, 50)).size == (64, 64)
    assert decode_image(tiff_strips(64)).size == (64, 64)
    with pytest.raises(Unprocessable):
        decode_image(jpeg_scans(photo, 65))


def test_a_bigtiff_is_checked_too():
    import struct
    strips = 20_000  # a BigTIFF directory: 8-byte counts; only the header is needed for the check
    entry = struct.pack("<HHQQ", 273, 16, strips, 64)
    data = b"II+\x00" + struct.pack("<HHQ", 8, 0, 16) + struct.pack("<Q", 1) + entry + struct.pack("<Q", 0)
    with pytest.raises(Unprocessable, match="MAX_TIFF_STRIPS"):
        decode_image(data)


def test_the_decode_budget_is_a_422(monkeypatch):
    import fashion.request.decode as decode
    monkeypatch.setattr(decode, "limits", lambda: _limits(decode_budget_s=0.0))
    with pytest.raises(Unprocessable, match="DECODE_BUDGET_S"):
        decode_image(encode(Image.new("RGB", (300, 200), (10, 200, 30)), "PNG"))

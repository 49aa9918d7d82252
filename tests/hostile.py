"""The hostile-input corpus: every case a client could send by mistake or malice, with what must happen.

`python -m tests.hostile --out DIR` writes the corpus to DIR (one file per case plus cases.json); the e2e
test `tests/e2e/test_hostile.py` sends every case to every endpoint of a real TorchServe.
expect: "refused" (a 4xx JSON error that says what is wrong), "accepted" (a normal answer) or "either".
"""
from __future__ import annotations

import argparse
import base64
import dataclasses
import io
import json
import struct
import sys
import zipfile
import zlib
from pathlib import Path

from PIL import Image

JPEG, PNG, JSON = "image/jpeg", "image/png", "application/json"


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    body: bytes
    content_type: str
    expect: str  # refused | accepted | either
    code: int | None = None  # the 4xx expected where it is certain


def _encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(side: int = 20000) -> bytes:
    """A valid greyscale PNG of side x side black pixels: ~400 MB decoded, ~400 KB on the wire."""
    z = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
            + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b""))


def _animated_gif() -> bytes:
    frames = [Image.new("P", (64, 48), i * 40) for i in range(4)]
    return _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)


def _huge_exif(photo: bytes) -> bytes:
    image = Image.open(io.BytesIO(photo))
    exif = Image.Exif()
    exif[0x9286] = "x" * 60000  # UserComment, close to the 64 KB APP1 limit
    exif[0x0112] = 6  # orientation: rotate
    return _encode(image.convert("RGB"), "JPEG", exif=exif.tobytes(), quality=80)


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("photo.jpg", b"\xff\xd8not really")
    return buf.getvalue()


def _jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, offset, length) of each header segment up to the start of the scan."""
    out, i = [], 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
        out.append((marker, i, length))
        if marker == 0xDA:
            break
        i += 2 + length
    return out


def zero_tables(photo: bytes, marker: int, keep: int) -> bytes:
    """The photo with every table of one kind (0xDB quantisation, 0xC4 Huffman) zeroed after its first `keep`
    bytes: the file still parses, and the pixels are garbage."""
    out = bytearray(photo)
    for m, offset, length in _jpeg_segments(photo):
        if m == marker:
            out[offset + 4 + keep: offset + 2 + length] = bytes(length - 2 - keep)
    return bytes(out)


def tiff_strips(strips: int = 1_000_000) -> bytes:
    """A valid 64x64 greyscale TIFF whose one image lists `strips` strips (all pointing at the same byte): Pillow
    spends seconds reading that table before any pixel."""
    so, sbc = 8 + 2 + 12 * 9 + 4, 8 + 2 + 12 * 9 + 4 + 4 * strips
    pixels = sbc + 4 * strips
    tags = [(256, 3, 1, 64), (257, 3, 1, 64), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1), (273, 4, strips, so),
            (277, 3, 1, 1), (278, 3, 1, 1), (279, 4, strips, sbc)]
    ifd = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHIHH", t, k, n, v, 0) if k == 3 else struct.pack("<HHII", t, k, n, v) for t, k, n, v in tags)
    return (b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0)
            + struct.pack(f"<{strips}I", *[pixels] * strips) + struct.pack(f"<{strips}I", *[1] * strips)
            + b"\x80" * 4096)


def jpeg_scans(photo: bytes, scans: int = 1000) -> bytes:
    """The photo re-encoded as a progressive JPEG, its last scan repeated until it has `scans` scans."""
    progressive = _encode(Image.open(io.BytesIO(photo)).convert("RGB"), "JPEG", progressive=True, quality=80)
    last = progressive.rindex(b"\xff\xda")
    return progressive[:last] + progressive[last:-2] * (scans - progressive.count(b"\xff\xda") + 1) + b"\xff\xd9"


def gif_frames(frames: int = 5000) -> bytes:
    images = [Image.frombytes("L", (16, 16), bytes((i * 7 + j) % 256 for j in range(256))).convert("P")
              for i in range(frames)]
    return _encode(images[0], "GIF", save_all=True, append_images=images[1:], duration=10)


def png_chunks(photo: bytes, chunks: int = 5000) -> bytes:
    """A valid PNG with `chunks` small tEXt chunks before its image data."""
    png = _encode(Image.open(io.BytesIO(photo)).convert("RGB").resize((64, 64)), "PNG")
    head = 8 + 25  # signature + IHDR
    return png[:head] + _png_chunk(b"tEXt", b"k\x00v") * chunks + png[head:]


def png_text_bomb(photo: bytes) -> bytes:
    """A valid PNG with one zTXt chunk that inflates to 200 MB."""
    png = _encode(Image.open(io.BytesIO(photo)).convert("RGB").resize((64, 64)), "PNG")
    z = zlib.compressobj(9)
    bomb = b"".join(z.compress(b"\x00" * (1 << 20)) for _ in range(200)) + z.flush()
    return png[:33] + _png_chunk(b"zTXt", b"Comment\x00\x00" + bomb) + png[33:]


def multipart(parts: list[tuple[bytes, bytes]], boundary: bytes = b"xYzZY", close: bool = True) -> bytes:
    """A multipart/form-data body of (part headers, part body) pairs."""
    out = b"".join(b"--" + boundary + b"\r\n" + headers + b"\r\n\r\n" + body + b"\r\n" for headers, body in parts)
    return out + (b"--" + boundary + b"--\r\n" if close else b"")


def nested_multipart(photo: bytes) -> bytes:
    inner = multipart([(b'Content-Disposition: form-data; name="data"; filename="a.jpg"\r\nContent-Type: image/jpeg',
                        photo)], b"inner")
    return multipart([(b'Content-Disposition: form-data; name="data"\r\n'
                       b"Content-Type: multipart/mixed; boundary=inner", inner)])


def _nested(depth: int, inner: str = "") -> bytes:
    return ("[" * depth + inner + "]" * depth).encode()


def _jpeg_and_json_cases(photo: bytes, b64: str) -> list[Case]:
    """Broken JPEGs, bodies under other content types, nested and oversized JSON."""
    corrupt_jpeg = bytearray(photo)
    corrupt_jpeg[len(photo) // 3: len(photo) // 3 + 2000] = bytes(range(256)) * 7 + bytes(208)
    return [
        Case("truncated_jpeg", photo[: len(photo) // 3], JPEG, "refused"),
        Case("corrupted_jpeg", bytes(corrupt_jpeg), JPEG, "refused", 422),
        Case("jpeg_zeroed_quantisation", zero_tables(photo, 0xDB, 1), JPEG, "refused", 422),
        Case("jpeg_zeroed_huffman_symbols", zero_tables(photo, 0xC4, 17), JPEG, "refused", 422),
        Case("jpeg_zeros_in_scan", photo[:5000] + bytes(3000) + photo[8000:], JPEG, "refused", 422),
        Case("photo_as_form_urlencoded", photo, "application/x-www-form-urlencoded", "accepted"),
        Case("photo_as_octet_stream", photo, "application/octet-stream", "accepted"),
        Case("nested_json_lists", _nested(100_000), JSON, "refused", 413),
        Case("nested_json_objects", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, JSON, "refused", 413),
        Case("nested_json_instances", b'{"instances":' + _nested(5000) + b"}", JSON, "refused", 413),
        Case("nested_json_as_form", _nested(100_000), "application/x-www-form-urlencoded", "refused", 413),
        Case("json_40_levels", b'{"b64": "aGVsbG8=", "x": ' + _nested(40) + b"}", JSON, "refused", 413),
        Case("json_million_keys", json.dumps({f"k{i}": 1 for i in range(1_000_000)}).encode(), JSON, "refused", 413),
        Case("json_overflowing_number", b'{"b64": "' + b64.encode() + b'", "max_garments": 1e999}', JSON, "refused",
             400),
        Case("json_overflowing_negative", b'{"b64": "' + b64.encode() + b'", "max_garments": -1e999}', JSON,
             "refused", 400),
        Case("json_overflowing_score", b'{"b64": "' + b64.encode() + b'", "min_score": 1e999}', JSON, "refused", 400),
        Case("text_16kb", json.dumps({"text": ["x" * 16_000]}).encode(), JSON, "refused", 413),
        Case("text_1mb", json.dumps({"text": ["red " * 250_000]}).encode(), JSON, "refused", 413),
    ]


def _option_and_container_cases(photo: bytes, b64: str) -> list[Case]:
    """Options past their limits, containers built to exhaust a parser, multipart abuse."""
    return [
        Case("labels_long", json.dumps({"b64": b64, "labels": ["y" * 5000]}).encode(), JSON, "refused", 400),
        Case("prompt_long", json.dumps({"b64": b64, "prompt": "z" * 100_000}).encode(), JSON, "refused", 400),
        Case("tiff_million_strips", tiff_strips(), "image/tiff", "refused", 422),
        Case("jpeg_1000_scans", jpeg_scans(photo), JPEG, "refused", 422),
        Case("gif_5000_frames", gif_frames(), "image/gif", "refused", 422),
        Case("png_5000_chunks", png_chunks(photo), PNG, "refused", 422),
        Case("png_text_bomb", png_text_bomb(photo), PNG, "refused"),
        Case("multipart_nested", nested_multipart(photo), "multipart/form-data; boundary=xYzZY", "refused", 400),
        Case("multipart_no_boundary", multipart([(b'Content-Disposition: form-data; name="data"', photo)]),
             "multipart/form-data", "refused", 400),
        Case("multipart_unterminated", multipart([(b'Content-Disposition: form-data; name="data"', photo)],
                                                 close=False), "multipart/form-data; boundary=xYzZY", "refused", 400),
        Case("multipart_no_name", multipart([(b"Content-Disposition: form-data", photo)]),
             "multipart/form-data; boundary=xYzZY", "refused", 400),
        Case("multipart_100_parts", multipart([(b'Content-Disposition: form-data; name="p%d"' % i, b"1")
                                               for i in range(100)]), "multipart/form-data; boundary=xYzZY",
             "refused", 400),
        Case("multipart_mixed", multipart([(b'Content-Disposition: form-data; name="data"', photo)]),
             "multipart/mixed; boundary=xYzZY", "refused", 400),
        Case("json_huge_integer", b'{"b64": "aGVsbG8=", "max_garments": ' + b"9" * 5000 + b"}", JSON, "refused", 400),
        Case("json_nan_option", json.dumps({"b64": b64, "min_score": float("nan")}).encode(), JSON, "refused", 400),
        Case("json_text_not_strings", b'{"text": ' + _nested(500) + b"}", JSON, "refused", 413),
    ]


def _format_and_url_cases(photo: bytes, png: bytes, b64: str, oversized_mb: int) -> list[Case]:
    """Broken PNGs, what is not an image, image bombs, URLs that reach inside, oversized bodies."""
    corrupt_png = bytearray(png)
    corrupt_png[len(png) // 2: len(png) // 2 + 64] = b"\x00" * 64
    return [
        Case("truncated_png", png[: len(png) // 2], PNG, "refused", 400),
        Case("corrupted_png", bytes(corrupt_png), PNG, "refused", 400),
        Case("zero_bytes", b"", JPEG, "refused", 400),
        Case("text", b"hello, I am not an image", "text/plain", "refused"),
        Case("html", b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>", "text/html",
             "refused"),
        Case("zip", _zip(), "application/zip", "refused", 415),
        Case("png_bomb_20000x20000", png_bomb(), PNG, "refused", 413),
        Case("one_by_one", _encode(Image.new("RGB", (1, 1)), "PNG"), PNG, "refused", 400),
        Case("strip_10000x10", _encode(Image.new("RGB", (10000, 10), (90, 30, 30)), "PNG"), PNG, "refused", 413),
        Case("animated_gif", _animated_gif(), "image/gif", "accepted"),
        Case("huge_exif", _huge_exif(photo), JPEG, "accepted"),
        Case("wrong_content_type", photo, "text/plain", "accepted"),
        Case("malformed_json", b'{"b64": "abc', JSON, "refused", 400),
        Case("json_not_an_object", b'"just a string"', JSON, "refused", 400),
        Case("base64_garbage", json.dumps({"b64": "%%%not base64%%%"}).encode(), JSON, "refused", 400),
        Case("base64_of_text", json.dumps({"b64": base64.b64encode(b"plain text").decode()}).encode(), JSON,
             "refused", 415),
        Case("unknown_option", json.dumps({"b64": b64, "maks_format": "rle"}).encode(), JSON, "refused", 400),
        Case("ssrf_metadata_url", json.dumps({"url": "http://169.254.169.254/latest/meta-data/"}).encode(), JSON,
             "refused", 400),
        Case("ssrf_loopback_url", json.dumps({"url": "http://127.0.0.1:8081/models"}).encode(), JSON,
             "refused", 400),
        Case("ssrf_file_url", json.dumps({"url": "file:///etc/passwd"}).encode(), JSON, "refused", 400),
        Case("too_many_images", json.dumps({"images": [{"b64": b64}] * 17}).encode(), JSON, "refused", 413),
        Case("oversized_body", b"\xff\xd8" + b"\x00" * (oversized_mb * 1024 * 1024), JPEG, "refused", 413),
    ]


def build_corpus(photo: bytes, oversized_mb: int = 65) -> list[Case]:
    """photo: a real JPEG (the good request every hostile one is measured against)."""
    png = _encode(Image.open(io.BytesIO(photo)).convert("RGB").resize((200, 300)), "PNG")
    b64 = base64.b64encode(photo).decode()
    return [*_jpeg_and_json_cases(photo, b64), *_option_and_container_cases(photo, b64),
            *_format_and_url_cases(photo, png, b64, oversized_mb)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.hostile", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--photo", type=Path, default=Path("../shared/data/street_photos/photos/0005.jpg"))
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    index = []
    for case in build_corpus(args.photo.read_bytes()):
        (args.out / case.name).write_bytes(case.body)
        index.append({"name": case.name, "content_type": case.content_type, "expect": case.expect,
                      "code": case.code, "bytes": len(case.body)})
    (args.out / "cases.json").write_text(json.dumps(index, indent=1))
    print(f"{len(index)} cases in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

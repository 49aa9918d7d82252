"""Structural limits of an encoded image, read from its bytes before any decoder runs (fashion.request.decode calls it).

A decoder's work is bounded by more than its pixel count: a 64x64 TIFF can list a million strips (Pillow takes
seconds to read that table), a progressive JPEG can hold a thousand scans (each one a pass over the whole image),
a PNG thousands of metadata chunks. Each check here walks only the file's headers, stops at its limit and raises
Unprocessable (422) naming the limit and its environment variable.
"""
from __future__ import annotations

import struct

from fashion.errors import InvalidInput, Unprocessable
from fashion.request.limits import Limits

TIFF_STRIP_TAGS = (273, 324)  # StripOffsets, TileOffsets
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_structure(data: bytes, bounds: Limits) -> None:
    """Raise Unprocessable when `data` (any format) is past one of the structural limits of `bounds`. A file too
    short for its own headers passes here: the decoder then says it is truncated."""
    try:
        _check(data, bounds)
    except struct.error:
        return


def _check(data: bytes, bounds: Limits) -> None:
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        _check_tiff(data, bounds)
    elif data[:2] == b"\xff\xd8":
        scans = data.count(b"\xff\xda")  # start-of-scan markers (0xFF is stuffed inside entropy-coded data)
        if scans > bounds.max_jpeg_scans:
            raise Unprocessable(f"the JPEG holds {scans} scans; the limit is {bounds.max_jpeg_scans} "
                                "(MAX_JPEG_SCANS): re-encode it as a baseline JPEG")
    elif data[:8] == PNG_SIGNATURE:
        _check_png(data, bounds)


def _check_png(data: bytes, bounds: Limits) -> None:
    """Chunks before the first IDAT (where the metadata lives) and an APNG's frame count."""
    offset, chunks = len(PNG_SIGNATURE), 0
    while offset + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, offset)
        if kind == b"IDAT":
            return
        chunks += 1
        if chunks > bounds.max_png_chunks:
            raise Unprocessable(f"the PNG has more than {bounds.max_png_chunks} chunks before its image data "
                                "(MAX_PNG_CHUNKS)")
        if kind == b"acTL" and length >= 8:
            frames = struct.unpack_from(">I", data, offset + 8)[0]
            if frames > bounds.max_frames:
                raise Unprocessable(f"the PNG animation has {frames} frames; the limit is {bounds.max_frames} "
                                    "(MAX_FRAMES)")
        offset += 12 + length


def _check_tiff(data: bytes, bounds: Limits) -> None:
    """Every image file directory in the chain (at most max_frames, each at most max_tiff_tags entries): its strip
    or tile count. Classic TIFF and BigTIFF (8-byte counts and offsets)."""
    order = "<" if data[:2] == b"II" else ">"
    big = struct.unpack_from(order + "H", data, 2)[0] == 43
    count_fmt, entry_fmt, entry_size = ("Q", "HHQ", 20) if big else ("H", "HHI", 12)
    offset_fmt = "Q" if big else "I"
    offset, seen = struct.unpack_from(order + offset_fmt, data, 8 if big else 4)[0], set()
    while offset:
        if offset in seen:
            raise InvalidInput("the TIFF's image directories form a loop; send the original file")
        if offset + 8 > len(data):
            return  # truncated: Pillow says so with its own message
        seen.add(offset)
        if len(seen) > bounds.max_frames:
            raise Unprocessable(f"the TIFF holds more than {bounds.max_frames} images (MAX_FRAMES)")
        entries = struct.unpack_from(order + count_fmt, data, offset)[0]
        if entries > bounds.max_tiff_tags:
            raise Unprocessable(f"a TIFF directory has {entries} tags; the limit is {bounds.max_tiff_tags} "
                                "(MAX_TIFF_TAGS)")
        first = offset + struct.calcsize(count_fmt)
        end = first + entry_size * entries
        if end + struct.calcsize(offset_fmt) > len(data):
            return
        for i in range(entries):
            tag, _kind, count = struct.unpack_from(order + entry_fmt, data, first + entry_size * i)
            if tag in TIFF_STRIP_TAGS and count > bounds.max_tiff_strips:
                raise Unprocessable(f"the TIFF lists {count} strips or tiles; the limit is {bounds.max_tiff_strips} "
                                    "(MAX_TIFF_STRIPS): save it with fewer, larger strips")
        offset = struct.unpack_from(order + offset_fmt, data, end)[0]

"""Hostile files built from scratch: decompression bombs, absurd sizes, huge metadata.

Each builder returns bytes on demand (some are megabytes), so a corpus plan can hold
thousands of them as recipes without holding their bytes.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable

from PIL import Image

from tests.hardening.containers import (
    PNG_MAGIC,
    format_of,
    jpeg_spans,
    png_chunk,
    png_spans,
    store_of,
    webp_chunk,
    webp_from_chunks,
    webp_spans,
    with_store,
)

Builder = Callable[[], bytes]
MB = 1024 * 1024


def _zeros_deflated(total: int, level: int = 9) -> bytes:
    """zlib stream of `total` zero bytes, built without holding them all."""
    comp = zlib.compressobj(level)
    block = bytes(MB)
    out = []
    for _ in range(total // MB):
        out.append(comp.compress(block))
    out.append(comp.compress(bytes(total % MB)))
    out.append(comp.flush())
    return b"".join(out)


def png_with(width: int, height: int, idat: bytes, *, colour: int = 2, extra: bytes = b"") -> bytes:
    """A PNG with the given IHDR dimensions and IDAT payload (depth 8)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return (
        PNG_MAGIC
        + png_chunk(b"IHDR", ihdr)
        + extra
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def png_bomb(width: int, height: int, colour: int = 0) -> bytes:
    """A PNG whose IDAT really inflates to width x height pixels of zeros (greyscale)."""
    channels = {0: 1, 2: 3, 6: 4}[colour]
    raw = (width * channels + 1) * height  # one filter byte per row
    return png_with(width, height, _zeros_deflated(raw), colour=colour)


def png_text_bomb(kind: bytes, size: int) -> bytes:
    """A small valid PNG with a compressed text or ICC chunk inflating to `size` bytes."""
    body = {
        b"zTXt": b"Comment\x00\x00",
        b"iTXt": b"Comment\x00\x01\x00\x00\x00",
        b"iCCP": b"icc\x00\x00",
    }[kind] + _zeros_deflated(size)
    small = _tiny("png")
    chunks = png_spans(small)
    return (
        PNG_MAGIC
        + small[chunks[0].start : chunks[0].end]
        + png_chunk(kind, body)
        + small[chunks[1].start :]
    )


def jpeg_claiming(width: int, height: int, progressive: bool = False) -> bytes:
    """A tiny JPEG whose frame header claims width x height."""
    data = bytearray(_tiny("jpeg", progressive=progressive))
    marker = b"\xff\xc2" if progressive else b"\xff\xc0"
    sof = data.index(marker)
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def webp_vp8x_canvas(width: int, height: int) -> bytes:
    """A tiny WebP wrapped in a VP8X header that claims a huge canvas (24-bit fields)."""
    small = _tiny("webp")
    chunks = [small[s.start : s.end] for s in webp_spans(small)]
    canvas = struct.pack("<I", width - 1)[:3] + struct.pack("<I", height - 1)[:3]
    return webp_from_chunks([webp_chunk(b"VP8X", b"\x00\x00\x00\x00" + canvas), *chunks])


def webp_vp8l_claiming(width: int, height: int) -> bytes:
    """A lossless WebP whose VP8L header claims width x height (14-bit fields)."""
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (10, 20, 30)).save(buf, format="WEBP", lossless=True)
    data = bytearray(buf.getvalue())
    at = data.index(b"VP8L") + 9  # chunk header (8) + signature byte 0x2f
    bits = ((width - 1) & 0x3FFF) | (((height - 1) & 0x3FFF) << 14)
    old = struct.unpack_from("<I", data, at)[0]
    struct.pack_into("<I", data, at, (old & ~0x0FFFFFFF) | bits)
    return bytes(data)


def real_image(fmt: str, width: int, height: int) -> bytes:
    """A genuinely decodable image of the given (possibly absurd) shape."""
    buf = io.BytesIO()
    Image.new("L", (width, height), 128).save(
        buf, format={"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt]
    )
    return buf.getvalue()


def _tiny(fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 40, 40)).save(
        buf, format={"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt], **options
    )
    return buf.getvalue()


# --- huge metadata --------------------------------------------------------------------------


def png_many_chunks(kind: bytes, count: int, body: bytes) -> bytes:
    """A small PNG carrying `count` copies of an ancillary chunk."""
    small = _tiny("png")
    spans = png_spans(small)
    extra = png_chunk(kind, body) * count
    return PNG_MAGIC + small[spans[0].start : spans[0].end] + extra + small[spans[1].start :]


def jpeg_many_segments(marker: int, count: int, body: bytes) -> bytes:
    """A small JPEG with `count` extra segments of one kind after SOI."""
    small = _tiny("jpeg")
    segment = bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body
    return small[:2] + segment * count + small[2:]


def webp_with_chunk(kind: bytes, body: bytes) -> bytes:
    """A small WebP with one extra chunk (EXIF, XMP, ...) after the image."""
    small = _tiny("webp")
    chunks = [small[s.start : s.end] for s in webp_spans(small)]
    return webp_from_chunks([*chunks, webp_chunk(kind, body)])


# --- oversized or absurd manifest stores ----------------------------------------------------


def store_padded(signed: bytes, junk: int) -> bytes:
    """A signed file whose store gains a `junk`-byte box inside the c2pa superbox."""
    store = store_of(signed)
    assert store is not None
    pad = struct.pack(">I", junk + 8) + b"free" + bytes(junk)
    grown = struct.pack(">I", len(store) + len(pad)) + store[4:] + pad
    return with_store(signed, grown)


def store_declaring(signed: bytes, size: int, extended: bool = False) -> bytes:
    """A signed file whose outer JUMBF box declares `size` bytes (XLBox when `extended`)."""
    store = store_of(signed)
    assert store is not None
    if extended:
        head = struct.pack(">I", 1) + store[4:8] + struct.pack(">Q", size)
        return with_store(signed, head + store[8:])
    return with_store(signed, struct.pack(">I", size & 0xFFFFFFFF) + store[4:])


def store_nested(signed: bytes, depth: int) -> bytes:
    """A store that is `depth` empty superboxes inside each other."""
    box = b""
    for _ in range(depth):
        box = struct.pack(">I", len(box) + 8) + b"jumb" + box
    return with_store(signed, box)


def store_many_boxes(signed: bytes, count: int) -> bytes:
    """A store whose c2pa superbox holds `count` tiny unknown boxes after its description."""
    store = store_of(signed)
    assert store is not None
    desc_size = struct.unpack_from(">I", store, 8)[0]
    head = store[8 : 8 + desc_size]
    body = head + (struct.pack(">I", 12) + b"junk" + b"\x00" * 4) * count
    return with_store(signed, struct.pack(">I", len(body) + 8) + b"jumb" + body)


def duplicated_store(signed: bytes) -> bytes:
    """A file with its manifest store chunk or segments present twice."""
    fmt = format_of(signed)
    if fmt == "png":
        spans = png_spans(signed)
        cabx = b"".join(signed[s.start : s.end] for s in spans if s.kind == b"caBX")
        return signed[: spans[1].start] + cabx + signed[spans[1].start :]
    if fmt == "jpeg":
        app11 = b"".join(
            signed[s.start : s.end] for s in jpeg_spans(signed) if s.kind == b"\xff\xeb"
        )
        return signed[:2] + app11 + signed[2:]
    chunks = [signed[s.start : s.end] for s in webp_spans(signed)]
    c2pa = [c for c in chunks if c[:4] == b"C2PA"]
    return webp_from_chunks(chunks + c2pa)


def jpeg_junk_app11(count: int, size: int) -> bytes:
    """A small JPEG with `count` APP11 segments that look like JUMBF but hold junk."""
    small = _tiny("jpeg")
    segments = b""
    for seq in range(count):
        body = b"JP" + struct.pack(">HI", 0x0211, seq + 1) + struct.pack(">I", 0xFFFFFFF0) + b"jumb"
        body += bytes((seq * 7 + i) & 0xFF for i in range(size))
        segments += b"\xff\xeb" + struct.pack(">H", len(body) + 2) + body
    return small[:2] + segments + small[2:]

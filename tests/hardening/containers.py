"""Byte surgery on PNG, JPEG and WebP files and on the JUMBF manifest store inside them.

Test-side only: the verifier never reads containers itself (c2pa does), so the hostile
corpus and the tamper suite never lean on the code they test.
Parsers here assume well-formed input: they take apart the seed files we signed ourselves;
the damage is done afterwards.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Literal

Format = Literal["png", "jpeg", "webp"]
FORMATS: tuple[Format, ...] = ("png", "jpeg", "webp")
MIME: dict[str, str] = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
SUFFIX: dict[str, str] = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: Store bytes per APP11 segment, as c2pa splits them.
_APP11_DATA = 64_000
#: The JPEG XT box instance number (En) c2pa gives its APP11 segments.
C2PA_BOX_INSTANCE = 0x0211


@dataclass(frozen=True)
class Span:
    """One structural unit of a file: a PNG chunk, a JPEG segment, a WebP chunk or a box."""

    kind: bytes
    start: int
    end: int
    body_start: int
    label: str | None = None
    depth: int = 0


def format_of(data: bytes) -> Format:
    """The container format of a seed file, from its magic bytes."""
    if data.startswith(PNG_MAGIC):
        return "png"
    if data.startswith(b"\xff\xd8"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    raise ValueError("not a PNG, JPEG or WebP seed")


# --- PNG ------------------------------------------------------------------------------------


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """A PNG chunk with a correct CRC."""
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png_spans(data: bytes) -> list[Span]:
    """Every chunk of a PNG (start at the length field, end after the CRC)."""
    pos, out = 8, []
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        out.append(Span(data[pos + 4 : pos + 8], pos, pos + 12 + length, pos + 8))
        pos += 12 + length
    return out


# --- JPEG -----------------------------------------------------------------------------------


def jpeg_spans(data: bytes) -> list[Span]:
    """Every marker segment up to SOS; the scan (entropy-coded data and EOI) is the last span."""
    pos, out = 2, []
    while pos + 4 <= len(data):
        marker = data[pos + 1]
        if marker == 0xDA:
            out.append(Span(b"\xff\xda", pos, len(data), pos + 4))
            break
        (length,) = struct.unpack_from(">H", data, pos + 2)
        out.append(Span(bytes([0xFF, marker]), pos, pos + 2 + length, pos + 4))
        pos += 2 + length
    return out


def _app11_store(data: bytes) -> bytes | None:
    """Reassemble the JUMBF store from APP11 segments (CI "JP", En, Z, repeated box header)."""
    parts: list[tuple[int, bytes]] = []
    for span in jpeg_spans(data):
        body = data[span.body_start : span.end]
        if span.kind == b"\xff\xeb" and body[:2] == b"JP":
            (seq,) = struct.unpack_from(">I", body, 4)
            parts.append((seq, body[8:]))
    if not parts:
        return None
    parts.sort()
    first = parts[0][1]
    header = 16 if struct.unpack_from(">I", first, 0)[0] == 1 else 8
    return first + b"".join(body[header:] for _, body in parts[1:])


def _app11_segments(store: bytes, instance: int = C2PA_BOX_INSTANCE) -> bytes:
    """Split a store into APP11 segments the way c2pa writes them."""
    header = store[:16] if struct.unpack_from(">I", store, 0)[0] == 1 else store[:8]
    chunks = [store[:_APP11_DATA]]
    rest = store[_APP11_DATA:]
    while rest:
        chunks.append(header + rest[:_APP11_DATA])
        rest = rest[_APP11_DATA:]
    out = b""
    for seq, chunk in enumerate(chunks, start=1):
        body = b"JP" + struct.pack(">HI", instance, seq) + chunk
        out += b"\xff\xeb" + struct.pack(">H", len(body) + 2) + body
    return out


# --- WebP -----------------------------------------------------------------------------------


def webp_spans(data: bytes) -> list[Span]:
    """Every RIFF chunk of a WebP (padding byte included in the span)."""
    pos, out = 12, []
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        (length,) = struct.unpack_from("<I", data, pos + 4)
        end = pos + 8 + length + (length & 1)
        out.append(Span(kind, pos, end, pos + 8))
        pos = end
    return out


def webp_chunk(kind: bytes, body: bytes) -> bytes:
    """A RIFF chunk with its pad byte."""
    return kind + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) & 1 else b"")


def webp_from_chunks(chunks: list[bytes]) -> bytes:
    """A RIFF/WEBP file around `chunks`, with the RIFF size recomputed."""
    body = b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body


# --- the manifest store, per container ------------------------------------------------------


def spans(data: bytes) -> list[Span]:
    """The container's structural units (chunks or segments)."""
    return {"png": png_spans, "jpeg": jpeg_spans, "webp": webp_spans}[format_of(data)](data)


def store_of(data: bytes) -> bytes | None:
    """The embedded JUMBF manifest store, or None."""
    fmt = format_of(data)
    if fmt == "jpeg":
        return _app11_store(data)
    if fmt == "png":
        found = [data[s.body_start : s.end - 4] for s in png_spans(data) if s.kind == b"caBX"]
        return found[0] if found else None
    for span in webp_spans(data):
        if span.kind == b"C2PA":
            (length,) = struct.unpack_from("<I", data, span.start + 4)
            return data[span.body_start : span.body_start + length]
    return None


def store_offset(data: bytes) -> int:
    """Where the store's first byte sits in the file (first APP11 segment for JPEG)."""
    fmt = format_of(data)
    for span in spans(data):
        if fmt == "png" and span.kind == b"caBX":
            return span.body_start
        if fmt == "webp" and span.kind == b"C2PA":
            return span.body_start
        if (
            fmt == "jpeg"
            and span.kind == b"\xff\xeb"
            and data[span.body_start : span.body_start + 2] == b"JP"
        ):
            return span.body_start + 8
    raise ValueError("no manifest store in this file")


def with_store(data: bytes, store: bytes | None) -> bytes:
    """`data` with its manifest store replaced by `store` (None: stripped), lengths fixed.

    Where the file has no store, the new one goes where c2pa puts it: after IHDR (PNG),
    after the first segment (JPEG), after the first chunk (WebP).
    """
    fmt = format_of(data)
    if fmt == "png":
        chunks = [data[s.start : s.end] for s in png_spans(data) if s.kind != b"caBX"]
        added = [png_chunk(b"caBX", store)] if store is not None else []
        return PNG_MAGIC + chunks[0] + b"".join(added) + b"".join(chunks[1:])
    if fmt == "jpeg":
        segments = [
            data[s.start : s.end]
            for s in jpeg_spans(data)
            if not (s.kind == b"\xff\xeb" and data[s.body_start : s.body_start + 2] == b"JP")
        ]
        added = _app11_segments(store) if store is not None else b""
        return b"\xff\xd8" + segments[0] + added + b"".join(segments[1:])
    chunks = [data[s.start : s.end] for s in webp_spans(data) if s.kind != b"C2PA"]
    extra = [webp_chunk(b"C2PA", store)] if store is not None else []
    return webp_from_chunks(chunks[:1] + extra + chunks[1:])


def graft(target: bytes, donor: bytes) -> bytes:
    """`target` carrying the donor's manifest store (a manifest moved to another image)."""
    return with_store(target, store_of(donor))


# --- JUMBF ----------------------------------------------------------------------------------


@dataclass
class Box:
    """One JUMBF (ISO BMFF-style) box; superboxes (`jumb`) hold children, others a payload."""

    kind: bytes
    payload: bytes = b""
    children: list[Box] = field(default_factory=list)

    @property
    def is_super(self) -> bool:
        return self.kind == b"jumb"

    @property
    def label(self) -> str | None:
        """The label from a superbox's description box (`jumd`)."""
        if not self.is_super or not self.children or self.children[0].kind != b"jumd":
            return None
        desc = self.children[0].payload
        if len(desc) < 17 or not desc[16] & 0x02:
            return None
        end = desc.find(b"\x00", 17)
        return desc[17 : end if end >= 0 else len(desc)].decode("utf-8", "replace")

    def encode(self) -> bytes:
        """The box bytes, lengths recomputed from the content."""
        body = b"".join(c.encode() for c in self.children) if self.is_super else self.payload
        return struct.pack(">I", len(body) + 8) + self.kind + body

    def find(self, label: str) -> Box | None:
        """The first descendant superbox labelled `label`."""
        for child in self.children:
            if child.label == label:
                return child
            found = child.find(label)
            if found is not None:
                return found
        return None

    def content(self) -> Box | None:
        """A superbox's first data box (cbor, json, ...): what an assertion holds."""
        rest = [c for c in self.children if c.kind != b"jumd" and not c.is_super]
        return rest[0] if rest else None


def box_header(buf: bytes, pos: int) -> tuple[int, bytes, int]:
    """(size, type, header length) of the ISO BMFF box at `pos` (64-bit and to-end sizes)."""
    size, kind = struct.unpack_from(">I4s", buf, pos)
    if size == 1:
        return struct.unpack_from(">Q", buf, pos + 8)[0], kind, 16
    if size == 0:
        return len(buf) - pos, kind, 8
    return size, kind, 8


def parse_boxes(buf: bytes) -> list[Box]:
    """Boxes in `buf` (recursing into superboxes)."""
    pos, out = 0, []
    while pos + 8 <= len(buf):
        size, kind, header = box_header(buf, pos)
        payload = buf[pos + header : pos + size]
        box = Box(kind)
        if kind == b"jumb":
            box.children = parse_boxes(payload)
        else:
            box.payload = payload
        out.append(box)
        pos += size
    return out


def parse_store(store: bytes) -> Box:
    """The `c2pa` superbox of a manifest store."""
    boxes = parse_boxes(store)
    if not boxes or boxes[0].label != "c2pa":
        raise ValueError("not a C2PA manifest store")
    return boxes[0]


def manifests(root: Box) -> list[Box]:
    """The manifest superboxes in a store, in order (the active one is last)."""
    return [c for c in root.children if c.is_super]


def box_spans(store: bytes, base: int = 0, depth: int = 0) -> list[Span]:
    """Every box of a store with its absolute offsets (`base` is where the store sits)."""
    pos, out = 0, []
    while pos + 8 <= len(store):
        size, kind, header = box_header(store, pos)
        body = store[pos + header : pos + size]
        label = Box(kind, children=parse_boxes(body)).label if kind == b"jumb" else None
        out.append(Span(kind, base + pos, base + pos + size, base + pos + header, label, depth))
        if kind == b"jumb":
            out.extend(box_spans(body, base + pos + header, depth + 1))
        pos += size
    return out

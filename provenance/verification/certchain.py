"""The signer's certificate chain, read from the active manifest's COSE signature.

c2pa-python reports the signer's subject and issuer but not the certificates themselves, and
two things need them: `verify --certs` (auditors want the PEM chain, as `c2patool --certs`
prints it) and `[trust] allowed_certificates` (an allowed end-entity certificate must be
compared byte for byte, never by name).  So we locate the manifest store in the file (PNG
`caBX` chunk, JPEG APP11 JUMBF segments, WebP `C2PA` chunk), walk its JUMBF boxes to the
manifest's `c2pa.signature`, and read the COSE `x5chain` header (label 33).

Read-only and bounded: every length is checked against the buffer, nesting is limited, and
this only runs on files c2pa has already parsed.  Any surprise raises `ChainUnavailable`.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from cryptography import x509

_X5CHAIN = 33
_MAX_DEPTH = 24


class ChainUnavailable(ValueError):
    """The certificate chain could not be located or decoded."""


def certificate_chain(data: bytes, mime: str, manifest_label: str) -> list[x509.Certificate]:
    """The certificates in the `x5chain` of manifest `manifest_label`, signer first."""
    store = manifest_store_bytes(data, mime)
    cose = _signature_cbor(store, manifest_label)
    ders = _x5chain(cose)
    try:
        return [x509.load_der_x509_certificate(der) for der in ders]
    except ValueError as exc:
        raise ChainUnavailable(f"x5chain holds an unreadable certificate ({exc})") from exc


def manifest_store_bytes(data: bytes, mime: str) -> bytes:
    """The JUMBF manifest store embedded in a PNG, JPEG or WebP file."""
    extract = _EXTRACTORS.get(mime)
    if extract is None:
        raise ChainUnavailable(f"no manifest store reader for {mime}")
    store = extract(data)
    if not store:
        raise ChainUnavailable("no embedded manifest store")
    return store


def _u32(buf: bytes, pos: int) -> int:
    if pos + 4 > len(buf):
        raise ChainUnavailable("truncated structure")
    return int(struct.unpack_from(">I", buf, pos)[0])


def _png_store(data: bytes) -> bytes:
    pos, found = 8, []
    while pos + 12 <= len(data):
        length = _u32(data, pos)
        kind = data[pos + 4 : pos + 8]
        end = pos + 8 + length
        if end + 4 > len(data):
            raise ChainUnavailable("PNG chunk runs past the end of the file")
        if kind == b"caBX":
            found.append(data[pos + 8 : end])
        pos = end + 4
    return b"".join(found)


def _webp_store(data: bytes) -> bytes:
    pos = 12
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        length = int(struct.unpack_from("<I", data, pos + 4)[0])
        if kind == b"C2PA":
            return data[pos + 8 : pos + 8 + length]
        pos += 8 + length + (length & 1)
    return b""


def _jpeg_store(data: bytes) -> bytes:
    """Reassemble JUMBF from APP11 segments (ISO 19566-5: CI "JP", En, Z, box data)."""
    fragments: dict[bytes, list[tuple[int, bytes]]] = defaultdict(list)
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ChainUnavailable("JPEG marker expected")
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1  # fill byte
            continue
        if marker in (0xDA, 0xD9):  # start of scan, end of image: no more metadata
            break
        length = int(struct.unpack_from(">H", data, pos + 2)[0])
        payload = data[pos + 4 : pos + 2 + length]
        if marker == 0xEB and payload[:2] == b"JP" and len(payload) >= 8:
            fragments[payload[2:4]].append((_u32(payload, 4), payload[8:]))
        pos += 2 + length
    for parts in fragments.values():
        parts.sort()
        first = parts[0][1]
        header = 16 if _u32(first, 0) == 1 else 8  # repeated LBox/TBox(/XLBox) per segment
        store = first + b"".join(body[header:] for _, body in parts[1:])
        if store[4:8] == b"jumb":
            return store
    return b""


_EXTRACTORS = {"image/png": _png_store, "image/jpeg": _jpeg_store, "image/webp": _webp_store}


def _boxes(buf: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each box in buf[start:end]."""
    pos = start
    while pos + 8 <= end:
        size, header = _u32(buf, pos), 8
        if size == 1:
            if pos + 16 > end:
                raise ChainUnavailable("truncated JUMBF box")
            size, header = int(struct.unpack_from(">Q", buf, pos + 8)[0]), 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise ChainUnavailable("malformed JUMBF box")
        yield buf[pos + 4 : pos + 8], pos + header, pos + size
        pos += size


def _children(buf: bytes, start: int, end: int) -> Iterator[tuple[str | None, int, int]]:
    """(label, content start, end) of each JUMBF superbox inside buf[start:end]."""
    for kind, pstart, pend in _boxes(buf, start, end):
        if kind == b"jumb":
            label, content = _description(buf, pstart, pend)
            yield label, content, pend


def _description(buf: bytes, start: int, end: int) -> tuple[str | None, int]:
    first = next(_boxes(buf, start, end), None)
    if first is None or first[0] != b"jumd" or first[2] - first[1] < 17:
        raise ChainUnavailable("JUMBF superbox without description")
    _, pstart, pend = first
    label = None
    if buf[pstart + 16] & 0x02:
        nul = buf.find(b"\x00", pstart + 17, pend)
        label = buf[pstart + 17 : nul if nul >= 0 else pend].decode("utf-8", "replace")
    return label, pend


def _signature_cbor(store: bytes, manifest_label: str) -> bytes:
    top = list(_children(store, 0, len(store)))
    if not top or top[0][0] != "c2pa":
        raise ChainUnavailable("not a C2PA manifest store")
    manifests = list(_children(store, top[0][1], top[0][2]))
    chosen = [m for m in manifests if m[0] == manifest_label]
    if not chosen:
        raise ChainUnavailable(f"manifest {manifest_label} is not in the store")
    _, start, end = chosen[0]
    for label, cstart, cend in _children(store, start, end):
        if label == "c2pa.signature":
            for kind, pstart, pend in _boxes(store, cstart, cend):
                if kind == b"cbor":
                    return store[pstart:pend]
    raise ChainUnavailable("manifest has no signature box")


def _x5chain(cose: bytes) -> list[bytes]:
    sign1, _ = _cbor(cose, 0, 0)
    if not isinstance(sign1, list) or len(sign1) != 4:
        raise ChainUnavailable("signature is not a COSE_Sign1 structure")
    protected_bytes, unprotected = sign1[0], sign1[1]
    if not isinstance(protected_bytes, bytes):
        raise ChainUnavailable("COSE protected header is not a byte string")
    protected = _cbor(protected_bytes, 0, 0)[0] if protected_bytes else {}
    for headers in (protected, unprotected):
        if isinstance(headers, dict) and _X5CHAIN in headers:
            value = headers[_X5CHAIN]
            chain = value if isinstance(value, list) else [value]
            if chain and all(isinstance(c, bytes) for c in chain):
                return chain
    raise ChainUnavailable("COSE signature carries no x5chain")


def _cbor(buf: bytes, pos: int, depth: int) -> tuple[Any, int]:
    """Decode one definite-length CBOR item (what COSE headers use) at `pos`."""
    if depth > _MAX_DEPTH or pos >= len(buf):
        raise ChainUnavailable("malformed CBOR")
    major, info = buf[pos] >> 5, buf[pos] & 0x1F
    value, pos = _cbor_argument(buf, pos + 1, info)
    if major == 0:
        return value, pos
    if major == 1:
        return -1 - value, pos
    if major in (2, 3):
        if pos + value > len(buf):
            raise ChainUnavailable("CBOR string runs past the end")
        raw = buf[pos : pos + value]
        return (raw if major == 2 else raw.decode("utf-8", "replace")), pos + value
    if value > len(buf) - pos:  # every element needs at least one byte
        raise ChainUnavailable("CBOR container larger than its buffer")
    if major == 4:
        items = []
        for _ in range(value):
            item, pos = _cbor(buf, pos, depth + 1)
            items.append(item)
        return items, pos
    if major == 5:
        mapping: dict[Any, Any] = {}
        for _ in range(value):
            key, pos = _cbor(buf, pos, depth + 1)
            item, pos = _cbor(buf, pos, depth + 1)
            if isinstance(key, int | str | bytes):
                mapping[key] = item
        return mapping, pos
    if major == 6:  # tag (COSE_Sign1 is tag 18): the tagged item is what we want
        return _cbor(buf, pos, depth + 1)
    return {20: False, 21: True}.get(value), pos  # simple values; floats are not needed


def _cbor_argument(buf: bytes, pos: int, info: int) -> tuple[int, int]:
    if info < 24:
        return info, pos
    width = {24: 1, 25: 2, 26: 4, 27: 8}.get(info)
    if width is None or pos + width > len(buf):
        raise ChainUnavailable("unsupported or truncated CBOR length")
    return int.from_bytes(buf[pos : pos + width], "big"), pos + width

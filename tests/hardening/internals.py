"""Damage aimed inside the manifest store: signature, certificates, claim, assertions.

The `jumbf` family damages boxes as boxes; this one damages what they hold, where a
verifier's own parsing (or c2pa's) meets attacker-chosen bytes after the containers parsed
cleanly: the COSE_Sign1 signature (protected and unprotected headers, the signature
value), every certificate of its `x5chain` (version, serial, algorithm, issuer, validity,
subject, key, extensions, outer signature), the CBOR claim, and each assertion's content.

Regions are located test-side only, in the seed's store (`containers.store_of`,
`parse_store`), the COSE structure and certificates with `cbor2`, the certificate
fields with the small DER walker below; each region is found in the store by its bytes.
The damaged store goes back into the file with `containers.with_store`, so the container
(PNG chunk length and CRC, JPEG APP11 segments, WebP chunk size) stays consistent and the
damage reaches c2pa's manifest parsing.
Edits per region are byte-level (flips, zeroes, 0xFF, invalid UTF-8, 16 random bytes) and
structure-aware (DER tags and lengths; CBOR major types, counts, widths, indefinite lengths
and tags; the enclosing box's length).  `internal_recipes(seeds)` lists them
deterministically, one `Recipe` per damaged file.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import struct
import subprocess
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.hardening.containers import Box, manifests, parse_store, store_of, with_store
from tests.hardening.corpus import Recipe, _edit

if TYPE_CHECKING:
    from tests.hardening.seeds import SigningKit

FAMILY = "manifest-internals"
#: COSE header label of the certificate chain (RFC 9360).
X5CHAIN = 33
#: The tbsCertificate fields, in order (RFC 5280 4.1), when version is present.
TBS_FIELDS = ("version", "serial", "algorithm", "issuer", "validity", "subject", "key")


@dataclass(frozen=True)
class Region:
    """Bytes of one structure inside the file: `kind` groups regions for counting."""

    kind: str
    name: str
    start: int
    end: int
    #: "der", "cbor" or "box": which structure-aware edits apply at `start`.
    syntax: str


# --- locating regions ----------------------------------------------------------------------


def _der_header(buf: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, header length, content length) of the DER TLV at `pos`."""
    tag, first = buf[pos], buf[pos + 1]
    if first < 0x80:
        return tag, 2, first
    width = first & 0x7F
    return tag, 2 + width, int.from_bytes(buf[pos + 2 : pos + 2 + width], "big")


def _der_children(buf: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(tag, start, end) of each TLV in buf[start:end]."""
    pos = start
    while pos < end:
        tag, header, length = _der_header(buf, pos)
        yield tag, pos, pos + header + length
        pos += header + length


def certificate_regions(der: bytes, at: int, index: int) -> list[Region]:
    """The certificate at file offset `at` and each of its fields."""
    prefix = f"cert{index}"
    out = [Region("certificate", prefix, at, at + len(der), "der")]
    _, header, _ = _der_header(der, 0)
    tbs, algorithm, signature = list(_der_children(der, header, len(der)))[:3]
    _, tbs_header, _ = _der_header(der, tbs[1])
    fields = list(_der_children(der, tbs[1] + tbs_header, tbs[2]))
    names = list(TBS_FIELDS) if fields and fields[0][0] == 0xA0 else list(TBS_FIELDS[1:])
    for (_tag, start, end), name in zip(fields, names, strict=False):
        out.append(Region(f"certificate-{name}", f"{prefix}-{name}", at + start, at + end, "der"))
    for tag, start, end in fields[len(names) :]:
        if tag == 0xA3:
            out.append(Region("certificate-extensions", f"{prefix}-extensions", at + start,
                              at + end, "der"))  # fmt: skip
    for name, (_, start, end) in (("outer-algorithm", algorithm), ("signature", signature)):
        out.append(Region(f"certificate-{name}", f"{prefix}-{name}", at + start, at + end, "der"))
    return out


def _content_region(data: bytes, box: Box, kind: str, name: str) -> Region | None:
    """Where a superbox's content box (its payload) sits in the file."""
    content = box.content()
    if content is None or len(content.payload) < 8:
        return None
    at = data.find(content.payload)
    if at < 0:
        return None
    return Region(kind, name, at, at + len(content.payload), "cbor")


def _box_length_region(data: bytes, box: Box, kind: str, name: str) -> Region | None:
    """The content box's header (LBox/TBox), for length and type edits."""
    content = box.content()
    if content is None:
        return None
    encoded = content.encode()
    at = data.find(encoded)
    return Region(kind, name, at, at + 8, "box") if at >= 0 else None


def manifest_regions(data: bytes) -> list[Region]:
    """Every region this family damages in a manifest store (`data`: the store's bytes;
    offsets are into them): the active manifest's."""
    import cbor2

    active = manifests(parse_store(data))[-1]
    out: list[Region] = []
    signature = active.find("c2pa.signature")
    claim = active.find("c2pa.claim.v2") or active.find("c2pa.claim")
    assertions = active.find("c2pa.assertions")
    if signature is not None:
        cose = _content_region(data, signature, "cose-signature", "cose")
        if cose is not None:
            out.append(cose)
            out.extend(_cose_parts(data, cose))
            raw = data[cose.start : cose.end]
            message = cbor2.loads(raw)
            parts = message.value if isinstance(message, cbor2.CBORTag) else message
            protected = cbor2.loads(parts[0]) if parts[0] else {}
            chain = protected.get(X5CHAIN) or parts[1].get(X5CHAIN) or []
            for index, der in enumerate([chain] if isinstance(chain, bytes) else chain):
                at = data.find(der)
                if at >= 0:
                    out.extend(certificate_regions(der, at, index))
        box = _box_length_region(data, signature, "box-length", "signature-box")
        out.extend([box] if box else [])
    if claim is not None:
        region = _content_region(data, claim, "claim", "claim")
        out.extend([region] if region else [])
        box = _box_length_region(data, claim, "box-length", "claim-box")
        out.extend([box] if box else [])
    for child in assertions.children if assertions is not None else ():
        if child.is_super and child.label:
            region = _content_region(data, child, "assertion", f"assertion-{child.label}")
            out.extend([region] if region else [])
            box = _box_length_region(data, child, "box-length", f"box-{child.label}")
            out.extend([box] if box else [])
    return out


def _cose_parts(data: bytes, cose: Region) -> list[Region]:
    """The COSE_Sign1's protected header, unprotected header and signature value."""
    import cbor2

    raw = data[cose.start : cose.end]
    message = cbor2.loads(raw)
    parts = message.value if isinstance(message, cbor2.CBORTag) else message
    out = []
    for name, value in (("cose-protected", parts[0]), ("cose-signature-value", parts[3])):
        if isinstance(value, bytes) and value:
            at = raw.find(value)
            if at >= 0:
                start = cose.start + at
                out.append(Region(name, name, start, start + len(value), "bytes"))
    # The unprotected header map sits between the protected bstr and the (detached) payload.
    protected_at = raw.find(parts[0]) if isinstance(parts[0], bytes) and parts[0] else -1
    if protected_at >= 0:
        start = protected_at + len(parts[0])
        end = _item_end(raw, start)
        if end is not None and end > start:
            out.append(Region("cose-unprotected", "cose-unprotected", cose.start + start,
                              cose.start + end, "cbor"))  # fmt: skip
    return out


def _item_end(buf: bytes, pos: int) -> int | None:
    """Where the definite-length CBOR item at `pos` ends (None if it is not one)."""
    try:
        return _walk(buf, pos, 0, [])
    except (ValueError, IndexError):
        return None


# --- edits ---------------------------------------------------------------------------------


def _byte_edits(region: Region, data: bytes, rng: random.Random) -> Iterator[tuple[str, bytes]]:
    size = region.end - region.start
    for where, at in (("first", 0), ("second", 1), ("middle", size // 2), ("last", size - 1)):
        if 0 <= at < size:
            pos = region.start + at
            yield f"flip-{where}", _edit(data, pos, bytes([data[pos] ^ 0xFF]), 1)
            yield f"bit-{where}", _edit(data, pos, bytes([data[pos] ^ 0x01]), 1)
    for value in (0x00, 0xFF, 0x80):
        pos = region.start + rng.randrange(size)
        yield f"set-{value:02x}", _edit(data, pos, bytes([value]), 1)
    raw = bytearray(data)
    for _ in range(16):
        raw[region.start + rng.randrange(size)] = rng.randrange(256)
    yield "random16", bytes(raw)


def _der_edits(region: Region, data: bytes) -> Iterator[tuple[str, bytes]]:
    """The TLV at the region's start: other tags, lengths too short, too long, absurd."""
    at = region.start
    for tag in (0x00, 0x05, 0x0C, 0x30, 0x31, 0x80, 0xA0, 0xFF):
        if tag != data[at]:
            yield f"der-tag-{tag:02x}", _edit(data, at, bytes([tag]), 1)
    first = data[at + 1]
    if first < 0x80:
        for value in (0, first - 1, first + 1, 0x7F):
            if 0 <= value < 0x80 and value != first:
                yield f"der-len-{value:02x}", _edit(data, at + 1, bytes([value]), 1)
        yield "der-len-indefinite", _edit(data, at + 1, b"\x80", 1)
        yield "der-len-long", _edit(data, at + 1, b"\x84\xff\xff\xff\xff", 1)
    else:
        width = first & 0x7F
        length = int.from_bytes(data[at + 2 : at + 2 + width], "big")
        for name, value in (("zero", 0), ("minus1", length - 1), ("plus1", length + 1),
                            ("max", 256**width - 1)):  # fmt: skip
            if 0 <= value < 256**width and value != length:
                yield f"der-len-{name}", _edit(data, at + 2, value.to_bytes(width, "big"), width)
        yield "der-len-width-0", _edit(data, at + 1, b"\x80", 1)
        yield "der-len-width-9", _edit(data, at + 1, b"\x89", 1)


def _walk(buf: bytes, pos: int, depth: int, headers: list[int], limit: int = 12) -> int:
    """Skip the CBOR item at `pos`, noting array, map and tag headers; returns its end."""
    if pos >= len(buf) or depth > 12:
        raise ValueError("outside the item")
    major, info = buf[pos] >> 5, buf[pos] & 0x1F
    if info > 27:
        raise ValueError("indefinite or reserved")
    width = {24: 1, 25: 2, 26: 4, 27: 8}.get(info, 0)
    value = int.from_bytes(buf[pos + 1 : pos + 1 + width], "big") if width else info
    start, pos = pos, pos + 1 + width
    if major in (4, 5, 6) and len(headers) < limit:
        headers.append(start)
    if major in (2, 3):
        return pos + value
    if major in (4, 5):
        for _ in range(value * (2 if major == 5 else 1)):
            pos = _walk(buf, pos, depth + 1, headers, limit)
    elif major == 6:
        pos = _walk(buf, pos, depth + 1, headers, limit)
    return pos


def _cbor_headers(buf: bytes, limit: int = 12) -> list[int]:
    """Offsets of the first `limit` array, map and tag headers in a CBOR item (depth-first)."""
    headers: list[int] = []
    with contextlib.suppress(ValueError, IndexError):
        _walk(buf, 0, 0, headers, limit)
    return headers


def _cbor_edits(region: Region, data: bytes) -> Iterator[tuple[str, bytes]]:
    """Counts off by one, other major types, indefinite lengths, absurd widths, other tags."""
    raw = data[region.start : region.end]
    for number, offset in enumerate(_cbor_headers(raw)):
        at = region.start + offset
        head = data[at]
        major, info = head >> 5, head & 0x1F
        tag = f"cbor{number}"
        if major == 6:
            for other in (0xC0, 0xD1, 0xD8):
                if other != head:
                    yield f"{tag}-tag-{other:02x}", _edit(data, at, bytes([other]), 1)
            yield f"{tag}-tag-dropped", _edit(data, at, b"", 1 + (1 if info == 24 else 0))
            continue
        if info < 23:
            yield f"{tag}-count-plus1", _edit(data, at, bytes([head + 1]), 1)
        if 0 < info < 24:
            yield f"{tag}-count-minus1", _edit(data, at, bytes([head - 1]), 1)
        yield f"{tag}-indefinite", _edit(data, at, bytes([(major << 5) | 31]), 1)
        yield f"{tag}-major-swap", _edit(data, at, bytes([head ^ 0x20]), 1)
        yield f"{tag}-huge-count", _edit(data, at, bytes([(major << 5) | 27]) + b"\xff" * 8, 1)


def _box_edits(region: Region, data: bytes) -> Iterator[tuple[str, bytes]]:
    """The content box's LBox and TBox (inside a consistent outer store)."""
    (size,) = struct.unpack_from(">I", data, region.start)
    for name, value in (("zero", 0), ("one", 1), ("minus1", size - 1), ("plus1", size + 1),
                        ("max", 0xFFFFFFFF)):  # fmt: skip
        yield f"lbox-{name}", _edit(data, region.start, struct.pack(">I", value), 4)
    for kind in (b"json", b"jumb", b"\x00\x00\x00\x00"):
        if data[region.start + 4 : region.start + 8] != kind:
            yield f"tbox-{kind.hex()}", _edit(data, region.start + 4, kind, 4)


def _utf8_edits(region: Region, data: bytes) -> Iterator[tuple[str, bytes]]:
    """An invalid UTF-8 byte inside each string of a certificate name (the lenient/strict
    parser split that once broke a batch)."""
    raw = data[region.start : region.end]
    pos, number = 0, 0
    while pos < len(raw) - 2:
        if (
            raw[pos] in (0x0C, 0x13)
            and 2 < raw[pos + 1] < 0x80
            and pos + 2 + raw[pos + 1] <= len(raw)
        ):
            for byte in (0xFF, 0x80):
                at = region.start + pos + 3
                yield f"utf8-{number}-{byte:02x}", _edit(data, at, bytes([byte]), 1)
            number += 1
            pos += 2 + raw[pos + 1]
        else:
            pos += 1


def region_edits(region: Region, data: bytes, rng: random.Random) -> Iterator[tuple[str, bytes]]:
    """Every edit of one region (byte-level, then the syntax's structure-aware edits)."""
    yield from _byte_edits(region, data, rng)
    if region.syntax == "der":
        yield from _der_edits(region, data)
        if region.kind in ("certificate-issuer", "certificate-subject"):
            yield from _utf8_edits(region, data)
    elif region.syntax == "cbor":
        yield from _cbor_edits(region, data)
    elif region.syntax == "box":
        yield from _box_edits(region, data)


def internal_recipes(seeds: Mapping[str, bytes], rng_seed: int = 7) -> Iterator[Recipe]:
    """The whole family: every edit of every region of every signed seed, deterministically."""
    rng = random.Random(rng_seed)
    for name, data in seeds.items():
        store = store_of(data) if name.startswith("signed-") else None
        if store is None:
            continue
        seen = {store}
        for region in manifest_regions(store):
            for edit, damaged in region_edits(region, store, rng):
                if damaged in seen:
                    continue
                seen.add(damaged)
                yield Recipe(
                    FAMILY,
                    f"{name}:{region.kind}:{region.name}:{edit}",
                    lambda d=data, s=damaged: with_store(d, s),
                )


def region_kind(recipe: Recipe) -> str:
    """The region kind a recipe damaged (`certificate-issuer`, `claim`, ...)."""
    return recipe.name.split(":")[1]


# --- the run: every damaged file through verify, in-process, in workers, through the CLI ---


def run_internals(kit: SigningKit, root: Path, stride: int = 1) -> dict[str, Any]:
    """Write every `stride`-th recipe of the family and verify each file three ways.

    In-process (`workers=1`), in two worker processes, and through the real console script
    (`provenant verify DIR -r --json --workers 2`).  Returns the counts the tests assert on
    and the robustness report records.
    """
    from provenance.verify.verifier import State
    from tests.hardening.seeds import signed_seeds

    seeds = signed_seeds(kit, root / "ingredients")
    folder = root / "internals"
    folder.mkdir(parents=True, exist_ok=True)
    names: dict[Path, str] = {}
    for number, recipe in enumerate(internal_recipes(seeds)):
        if number % stride:
            continue
        path = folder / f"{len(names):05d}.img"
        path.write_bytes(recipe.make())
        names[path] = recipe.name
    paths = list(names)
    result: dict[str, Any] = {
        "inputs": len(paths),
        "seeds": sorted(n for n in seeds if n.startswith("signed-")),
        "regions": dict(Counter(name.split(":")[1] for name in names.values())),
    }
    verifier = kit.verifier()
    for label, workers in (("in_process", 1), ("workers_2", 2)):
        start = time.perf_counter()
        reports = list(verifier.verify_many(paths, workers=workers))
        result[label] = {
            "reports": len(reports),
            "in_order": [r.path for r in reports] == paths,
            "states": dict(Counter(r.state.value for r in reports)),
            "multi_line_reasons": sum(1 for r in reports if not r.reason or "\n" in r.reason),
            "seconds": round(time.perf_counter() - start, 1),
        }
        result[label]["errors"] = [
            f"{names[r.path]}: {r.reason}" for r in reports if r.state is State.ERROR
        ][:20]
        if label == "in_process":
            result["still_trusted"] = sorted(
                names[r.path] for r in reports if r.state is State.TRUSTED
            )
    result["cli"] = _through_the_cli(kit, folder, paths)
    return result


def _through_the_cli(kit: SigningKit, folder: Path, paths: list[Path]) -> dict[str, Any]:
    anchors = [str(a) for a in kit.settings.trust.anchors]
    args = ["provenant", "--home", str(kit.home), "verify", "--no-ledger", "--json", "-r"]
    for anchor in anchors:
        args += ["--trust-anchors", anchor]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANT_")}
    start = time.perf_counter()
    done = subprocess.run(
        [*args, "--workers", "2", str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return {
        "exit_code": done.returncode,
        "reports": len(lines),
        "one_per_file": sorted(Path(x["path"]) for x in lines) == sorted(paths),
        "traceback": "Traceback" in done.stderr or "Traceback" in done.stdout,
        "stderr_tail": done.stderr.strip().splitlines()[-3:],
        "seconds": round(time.perf_counter() - start, 1),
    }

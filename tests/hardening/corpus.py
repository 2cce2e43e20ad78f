"""The hostile-file corpus: thousands of damaged, absurd or malicious images, as recipes.

`plan(seeds, total)` lists `Recipe`s deterministically (same seeds, same plan); a recipe
makes its bytes only when asked, so worker processes rebuild the plan from the seeds and
are handed indices.  Families:

* `truncation`   — every seed cut at every chunk, segment and JUMBF box boundary (and ±1);
* `magic`        — wrong, foreign or damaged magic bytes on valid bodies;
* `png-chunk`, `jpeg-segment`, `webp-chunk` — each structural unit damaged: lengths,
  types, CRCs, removal, duplication, reordering, bytes flipped in the data;
* `jumbf`        — each box of each signed seed's manifest store damaged in place (lengths,
  types, payload bytes), and structurally (removed, duplicated, swapped, junk content);
* `c2pa-size`    — oversized, nested, duplicated or absurdly declared manifest stores;
* `bomb`         — decompression bombs and absurd declared sizes (PNG, JPEG, WebP, zTXt,
  iCCP);
* `metadata`     — huge or numerous metadata chunks and segments;
* `dimensions`   — genuinely decodable images of absurd shapes;
* `random`       — random bytes, with and without valid magic;
* `mutation`     — seeded random edit sequences on the seeds, filling the plan to `total`.
"""

from __future__ import annotations

import contextlib
import random
import struct
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.hardening import payloads as P
from tests.hardening.containers import (
    Box,
    box_spans,
    format_of,
    manifests,
    parse_store,
    spans,
    store_of,
    store_offset,
    with_store,
)


@dataclass(frozen=True)
class Recipe:
    """One corpus file: its family, a unique name, and how to make its bytes."""

    family: str
    name: str
    make: Callable[[], bytes]


Seeds = Mapping[str, bytes]


def plan(seeds: Seeds, total: int = 10_000, rng_seed: int = 1) -> Iterator[Recipe]:
    """The whole corpus, lazily: structured families first, then mutations up to `total`.

    Recipes are yielded one at a time (their bytes are made as they come), so a consumer
    that writes each file and lets it go holds one file in memory, not ten thousand.
    """
    rng = random.Random(rng_seed)
    count = 0
    unchanged = set(seeds.values())
    # Crafted seeds are cases as they are (see `specials`), not material for more damage.
    base = {name: data for name, data in seeds.items() if not name.startswith("crafted-")}
    families = (truncations, magic, png_chunks, jpeg_segments, webp_chunks, jumbf, specials)
    for family in families:
        for recipe in family(seeds if family is specials else base, rng):
            if family is not specials and recipe.make() in unchanged:
                continue  # a damage that happens to rebuild the seed is no hostile file
            count += 1
            yield recipe
    for recipe in random_bytes(rng):
        count += 1
        yield recipe
    while count < total:
        recipe = mutation(base, rng, count)
        if recipe.make() not in unchanged:
            yield recipe
            count += 1


@dataclass(frozen=True)
class CorpusFile:
    """A corpus file written to disk."""

    index: int
    family: str
    name: str
    path: Path


def write_corpus(
    folder: Path, seeds: Seeds, total: int = 10_000, stride: int = 1
) -> list[CorpusFile]:
    """Write the corpus (every `stride`-th file of each family) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    seen: dict[str, int] = {}
    written = []
    for index, recipe in enumerate(plan(seeds, total)):
        position = seen.get(recipe.family, 0)
        seen[recipe.family] = position + 1
        if position % stride:
            continue
        path = folder / f"{index:05d}-{recipe.family}.img"
        path.write_bytes(recipe.make())
        written.append(CorpusFile(index, recipe.family, recipe.name, path))
    lines = (f"{f.path.name}\t{f.family}\t{f.name}\n" for f in written)
    (folder / "index.tsv").write_text("".join(lines))
    return written


def _fixed(data: bytes) -> Callable[[], bytes]:
    return lambda: data


def _edit(data: bytes, at: int, new: bytes, remove: int = 0) -> bytes:
    return data[:at] + new + data[at + remove :]


def _refresh_png_crc(data: bytes) -> bytes:
    """Recompute every PNG chunk CRC (so decoders look past the CRC at the damage itself)."""
    if format_of(data) != "png":
        return data
    out = bytearray(data)
    for span in spans(data):
        body = data[span.start + 4 : span.end - 4]
        struct.pack_into(">I", out, span.end - 4, zlib.crc32(body) & 0xFFFFFFFF)
    return bytes(out)


# --- structure-aware families ---------------------------------------------------------------


def _boundaries(data: bytes) -> set[int]:
    cuts = {0, 1, 7, 8, len(data) - 1}
    units = list(spans(data))
    if store_of(data) is not None:
        base = store_offset(data)
        units += box_spans(store_of(data) or b"", base)
    for unit in units:
        cuts.update({unit.start, unit.start + 1, unit.body_start, unit.end - 1, unit.end})
    return {c for c in cuts if 0 <= c < len(data)}


def truncations(seeds: Seeds, _rng: random.Random) -> Iterator[Recipe]:
    for name, data in seeds.items():
        for cut in sorted(_boundaries(data)):
            yield Recipe("truncation", f"{name}-cut{cut}", _fixed(data[:cut]))


_MAGICS = {
    "png": b"\x89PNG\r\n\x1a\n",
    "jpeg": b"\xff\xd8\xff",
    "webp": b"RIFF\x00\x00\x00\x00WEBP",
    "gif": b"GIF89a",
    "bmp": b"BM",
    "tiff": b"II*\x00",
    "pdf": b"%PDF-1.7",
    "zip": b"PK\x03\x04",
    "heic": b"\x00\x00\x00\x18ftypheic",
    "svg": b"<svg xmlns='http://www.w3.org/2000/svg'>",
    "zero": b"\x00" * 12,
}


def magic(seeds: Seeds, _rng: random.Random) -> Iterator[Recipe]:
    for name, data in seeds.items():
        own = {"png": 8, "jpeg": 3, "webp": 12}[format_of(data)]
        for label, head in _MAGICS.items():
            yield Recipe("magic", f"{name}-as-{label}", _fixed(head + data[own:]))
            yield Recipe("magic", f"{name}-prefixed-{label}", _fixed(head + data))
        for at in range(own):
            yield Recipe(
                "magic",
                f"{name}-magic{at}-flipped",
                _fixed(_edit(data, at, bytes([data[at] ^ 0xFF]), 1)),
            )


def _unit_damage(
    data: bytes, start: int, end: int, body: int, width: int, little: bool
) -> dict[str, bytes]:
    """Generic damage to one length-prefixed unit (length field at `start` or `start+2`)."""
    fmt = "<I" if little else (">I" if width == 4 else ">H")
    at = start + (2 if width == 2 else (4 if little else 0))
    old = struct.unpack_from(fmt, data, at)[0]
    top = 0xFFFF if width == 2 else 0xFFFFFFFF
    out = {
        f"len-{value:x}": _edit(data, at, struct.pack(fmt, value), struct.calcsize(fmt))
        for value in {0, 1, 2, (old + 1) & top, max(0, old - 1), top, top // 2}
    }
    middle = (body + end) // 2
    if middle < len(data):
        out["flip-middle"] = _edit(data, middle, bytes([data[middle] ^ 0x5A]), 1)
    out["removed"] = data[:start] + data[end:]
    out["duplicated"] = data[:end] + data[start:end] + data[end:]
    out["moved-to-end"] = data[:start] + data[end:] + data[start:end]
    out["zeroed"] = data[:body] + bytes(end - body) + data[end:]
    return out


def png_chunks(seeds: Seeds, _rng: random.Random) -> Iterator[Recipe]:
    for name, data in seeds.items():
        if format_of(data) != "png":
            continue
        for i, unit in enumerate(spans(data)):
            tag = f"{name}-{unit.kind.decode('latin-1')}{i}"
            for what, damaged in _unit_damage(
                data, unit.start, unit.end, unit.body_start, 4, False
            ).items():
                yield Recipe("png-chunk", f"{tag}-{what}", _fixed(damaged))
                if what == "flip-middle":
                    yield Recipe(
                        "png-chunk", f"{tag}-{what}-crc-ok", _fixed(_refresh_png_crc(damaged))
                    )
            crc_at = unit.end - 4
            yield Recipe(
                "png-chunk", f"{tag}-bad-crc", _fixed(_edit(data, crc_at, b"\x00\x00\x00\x00", 4))
            )
            for kind in (b"ABCD", b"abcd", b"\x00\x00\x00\x00", b"IHDR", b"IEND", b"caBX"):
                renamed = _edit(data, unit.start + 4, kind, 4)
                yield Recipe(
                    "png-chunk", f"{tag}-type-{kind.hex()}", _fixed(_refresh_png_crc(renamed))
                )
        ihdr = spans(data)[0]
        for w, h in ((0, 0), (0, 64), (2**31, 2**31), (2**32 - 1, 1)):
            body = struct.pack(">II", w, h)
            bad = _refresh_png_crc(_edit(data, ihdr.body_start, body, 8))
            yield Recipe("png-chunk", f"{name}-ihdr-{w}x{h}", _fixed(bad))
        for depth, colour in ((3, 2), (16, 3), (8, 7), (0, 0)):
            bad = _refresh_png_crc(_edit(data, ihdr.body_start + 8, bytes([depth, colour]), 2))
            yield Recipe("png-chunk", f"{name}-ihdr-depth{depth}-colour{colour}", _fixed(bad))


def jpeg_segments(seeds: Seeds, _rng: random.Random) -> Iterator[Recipe]:
    for name, data in seeds.items():
        if format_of(data) != "jpeg":
            continue
        for i, unit in enumerate(spans(data)):
            tag = f"{name}-{unit.kind.hex()}-{i}"
            if unit.kind != b"\xff\xda":
                for what, damaged in _unit_damage(
                    data, unit.start, unit.end, unit.body_start, 2, False
                ).items():
                    yield Recipe("jpeg-segment", f"{tag}-{what}", _fixed(damaged))
            for marker in (0x00, 0xD8, 0xD9, 0xC2, 0xC3, 0xDA, 0xEB, 0xFF):
                yield Recipe(
                    "jpeg-segment",
                    f"{tag}-marker{marker:02x}",
                    _fixed(_edit(data, unit.start + 1, bytes([marker]), 1)),
                )
            if unit.kind in (b"\xff\xc0", b"\xff\xc2"):
                for h, w in ((0, 0), (0xFFFF, 0xFFFF), (1, 0xFFFF), (0xFFFF, 1)):
                    yield Recipe(
                        "jpeg-segment",
                        f"{tag}-sof-{w}x{h}",
                        _fixed(_edit(data, unit.body_start + 1, struct.pack(">HH", h, w), 4)),
                    )
                yield Recipe(
                    "jpeg-segment",
                    f"{tag}-sof-components-255",
                    _fixed(_edit(data, unit.body_start + 5, b"\xff", 1)),
                )
            if unit.kind == b"\xff\xda":
                for k in range(8):
                    at = unit.body_start + (unit.end - unit.body_start) * (k + 1) // 10
                    yield Recipe(
                        "jpeg-segment",
                        f"{tag}-scan-flip{k}",
                        _fixed(_edit(data, at, bytes([data[at] ^ 0xA5]), 1)),
                    )
                yield Recipe("jpeg-segment", f"{tag}-no-eoi", _fixed(data[:-2]))
                yield Recipe(
                    "jpeg-segment", f"{tag}-junk-after-eoi", _fixed(data + b"\x00junk" * 100)
                )
                yield Recipe(
                    "jpeg-segment",
                    f"{tag}-rst-flood",
                    _fixed(data[:-2] + b"\xff\xd0" * 5000 + b"\xff\xd9"),
                )


def webp_chunks(seeds: Seeds, _rng: random.Random) -> Iterator[Recipe]:
    for name, data in seeds.items():
        if format_of(data) != "webp":
            continue
        for size in (0, 4, len(data) - 9, len(data) - 7, 0xFFFFFFFF, 0x7FFFFFFF):
            yield Recipe(
                "webp-chunk",
                f"{name}-riff-size-{size:x}",
                _fixed(_edit(data, 4, struct.pack("<I", size), 4)),
            )
        for i, unit in enumerate(spans(data)):
            tag = f"{name}-{unit.kind.decode('latin-1')}{i}"
            for what, damaged in _unit_damage(
                data, unit.start, unit.end, unit.body_start, 4, True
            ).items():
                yield Recipe("webp-chunk", f"{tag}-{what}", _fixed(damaged))
            for kind in (b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANMF", b"C2PA", b"\x00\x00\x00\x00"):
                yield Recipe(
                    "webp-chunk",
                    f"{tag}-fourcc-{kind.hex()}",
                    _fixed(_edit(data, unit.start, kind, 4)),
                )
            for k in range(4):
                at = unit.body_start + (unit.end - unit.body_start) * (k + 1) // 5
                if at < len(data):
                    yield Recipe(
                        "webp-chunk",
                        f"{tag}-flip{k}",
                        _fixed(_edit(data, at, bytes([data[at] ^ 0x3C]), 1)),
                    )


def jumbf(seeds: Seeds, rng: random.Random) -> Iterator[Recipe]:
    """Each box of each signed seed's store, damaged in place and structurally."""
    for name, data in seeds.items():
        store = store_of(data)
        if store is None:
            continue
        base = store_offset(data)
        for i, box in enumerate(box_spans(store, base)):
            tag = f"{name}-box{i}-{box.kind.decode('latin-1')}"
            size = box.end - box.start
            for value in (0, 1, 7, 8, size - 1, size + 1, 0xFFFFFFFF, 0x80000000):
                yield Recipe(
                    "jumbf",
                    f"{tag}-lbox-{value:x}",
                    _fixed(_refresh_png_crc(_edit(data, box.start, struct.pack(">I", value), 4))),
                )
            for kind in (b"jumb", b"jumd", b"cbor", b"json", b"junk", b"\x00\x00\x00\x00"):
                if kind != box.kind:
                    yield Recipe(
                        "jumbf",
                        f"{tag}-tbox-{kind.hex()}",
                        _fixed(_refresh_png_crc(_edit(data, box.start + 4, kind, 4))),
                    )
            for where in ("first", "middle", "last"):
                at = {
                    "first": box.body_start,
                    "middle": (box.body_start + box.end) // 2,
                    "last": box.end - 1,
                }[where]
                if box.body_start <= at < box.end:
                    flipped = _edit(data, at, bytes([data[at] ^ 0xFF]), 1)
                    yield Recipe("jumbf", f"{tag}-flip-{where}", _fixed(_refresh_png_crc(flipped)))
            if box.kind == b"cbor" and box.end - box.body_start > 9:
                huge = b"\x5b" + b"\xff" * 8  # a byte string claiming 2**64-1 bytes
                yield Recipe(
                    "jumbf",
                    f"{tag}-cbor-huge-length",
                    _fixed(_refresh_png_crc(_edit(data, box.body_start, huge, 9))),
                )
                deep = b"\x81" * (
                    box.end - box.body_start
                )  # arrays nested as deep as the box is long
                yield Recipe(
                    "jumbf",
                    f"{tag}-cbor-deep",
                    _fixed(_refresh_png_crc(_edit(data, box.body_start, deep, len(deep)))),
                )
        yield from _structural(name, data, parse_store(store), rng)


def _structural(name: str, data: bytes, root: Box, rng: random.Random) -> Iterator[Recipe]:
    """Boxes removed, duplicated, swapped or filled with junk; every length kept consistent."""

    def rebuilt(change: Callable[[Box], None]) -> Callable[[], bytes]:
        def make() -> bytes:
            tree = parse_store(root.encode())
            change(tree)
            return with_store(data, tree.encode())

        return make

    def superboxes(box: Box, path: tuple[int, ...] = ()) -> Iterator[tuple[int, ...]]:
        for i, child in enumerate(box.children):
            if child.is_super:
                yield (*path, i)
                yield from superboxes(child, (*path, i))

    def at(tree: Box, path: tuple[int, ...]) -> tuple[Box, int]:
        parent = tree
        for step in path[:-1]:
            parent = parent.children[step]
        return parent, path[-1]

    for path in superboxes(root):
        tag = f"{name}-struct{'.'.join(map(str, path))}"
        yield Recipe(
            "jumbf",
            f"{tag}-removed",
            rebuilt(lambda t, p=path: at(t, p)[0].children.pop(at(t, p)[1])),
        )
        yield Recipe(
            "jumbf",
            f"{tag}-duplicated",
            rebuilt(
                lambda t, p=path: at(t, p)[0].children.insert(
                    at(t, p)[1], at(t, p)[0].children[at(t, p)[1]]
                )
            ),
        )

        def junk(t: Box, p: tuple[int, ...] = path, seed: int = rng.randrange(2**32)) -> None:
            parent, i = at(t, p)
            content = parent.children[i].content()
            if content is not None:
                content.payload = random.Random(seed).randbytes(len(content.payload))

        yield Recipe("jumbf", f"{tag}-junk-content", rebuilt(junk))
    if len(manifests(root)) > 1:
        yield Recipe("jumbf", f"{name}-manifests-swapped", rebuilt(lambda t: t.children.reverse()))


def specials(seeds: Seeds, _rng: random.Random) -> Iterator[Recipe]:
    """Bombs, absurd sizes, huge metadata and oversized stores (built on demand), and the
    crafted seeds themselves (validly signed, odd shapes under our assertion labels)."""
    for name, data in seeds.items():
        if name.startswith("crafted-"):
            yield Recipe("crafted", name, _fixed(data))
    signed = {k: v for k, v in seeds.items() if k.startswith("signed-") and store_of(v)}
    for name, data in signed.items():
        for junk in (64 * 1024, 4 * P.MB):
            yield Recipe(
                "c2pa-size",
                f"{name}-store-padded-{junk}",
                lambda d=data, j=junk: P.store_padded(d, j),
            )
        for size in (0, 9, 2**31, 2**32 - 1):
            yield Recipe(
                "c2pa-size",
                f"{name}-store-declares-{size}",
                lambda d=data, s=size: P.store_declaring(d, s),
            )
        for size in (2**63 - 1, 2**64 - 1, 3):
            yield Recipe(
                "c2pa-size",
                f"{name}-store-xl-{size}",
                lambda d=data, s=size: P.store_declaring(d, s, True),
            )
        for depth in (64, 5000):
            yield Recipe(
                "c2pa-size",
                f"{name}-store-nested-{depth}",
                lambda d=data, n=depth: P.store_nested(d, n),
            )
        yield Recipe(
            "c2pa-size", f"{name}-store-20000-boxes", lambda d=data: P.store_many_boxes(d, 20_000)
        )
        yield Recipe("c2pa-size", f"{name}-store-twice", lambda d=data: P.duplicated_store(d))
    yield Recipe("c2pa-size", "jpeg-300-junk-app11", lambda: P.jpeg_junk_app11(300, 60_000))
    bombs: dict[str, Callable[[], bytes]] = {
        "png-8193-square": lambda: P.png_bomb(8193, 8193),
        "png-16384-square": lambda: P.png_bomb(16384, 16384),
        "png-20000-square": lambda: P.png_bomb(20000, 20000),
        "png-65535x1": lambda: P.png_bomb(65535, 1),
        "png-1x65535": lambda: P.png_bomb(1, 65535),
        "png-8192-square-rgb": lambda: P.png_bomb(8192, 8192, colour=2),
        "png-header-100000-square": lambda: P.png_with(100_000, 100_000, zlib.compress(b"")),
        "png-header-2^31": lambda: P.png_with(2**31 - 1, 2**31 - 1, zlib.compress(b"")),
        "png-ztxt-64mb": lambda: P.png_text_bomb(b"zTXt", 64 * P.MB),
        "png-itxt-64mb": lambda: P.png_text_bomb(b"iTXt", 64 * P.MB),
        "png-iccp-64mb": lambda: P.png_text_bomb(b"iCCP", 64 * P.MB),
        "jpeg-65500-square": lambda: P.jpeg_claiming(65500, 65500),
        "jpeg-60000-progressive": lambda: P.jpeg_claiming(60000, 60000, progressive=True),
        "jpeg-9000-square": lambda: P.jpeg_claiming(9000, 9000),
        "webp-vp8x-16m-canvas": lambda: P.webp_vp8x_canvas(2**24, 2**24),
        "webp-vp8x-16383": lambda: P.webp_vp8x_canvas(16383, 16383),
        "webp-vp8l-16384": lambda: P.webp_vp8l_claiming(16384, 16384),
    }
    for label, make in bombs.items():
        yield Recipe("bomb", label, make)
    metadata: dict[str, Callable[[], bytes]] = {
        "png-text-4mb": lambda: P.png_many_chunks(b"tEXt", 1, b"k\x00" + b"v" * (4 * P.MB)),
        "png-20000-text-chunks": lambda: P.png_many_chunks(b"tEXt", 20_000, b"k\x00v"),
        "png-exif-4mb": lambda: P.png_many_chunks(b"eXIf", 1, b"MM\x00*" + bytes(4 * P.MB)),
        "png-5000-splt": lambda: P.png_many_chunks(b"sPLT", 5000, b"p\x00\x08" + bytes(60)),
        "jpeg-5000-com": lambda: P.jpeg_many_segments(0xFE, 5000, b"c" * 100),
        "jpeg-100-exif": lambda: P.jpeg_many_segments(0xE1, 100, b"Exif\x00\x00" + bytes(65_000)),
        "jpeg-300-icc": lambda: P.jpeg_many_segments(
            0xE2, 300, b"ICC_PROFILE\x00\x01\xff" + bytes(1000)
        ),
        "webp-exif-4mb": lambda: P.webp_with_chunk(b"EXIF", bytes(4 * P.MB)),
        "webp-xmp-4mb": lambda: P.webp_with_chunk(b"XMP ", b"<x>" * (P.MB + 1)),
    }
    for label, make in metadata.items():
        yield Recipe("metadata", label, make)
    shapes = [("png", 16384, 1), ("png", 1, 16384), ("png", 16385, 1), ("png", 1, 1),
              ("jpeg", 1, 1), ("jpeg", 16384, 1), ("jpeg", 16385, 2), ("webp", 1, 1),
              ("webp", 16383, 1), ("png", 8192, 8192)]  # fmt: skip
    for fmt, w, h in shapes:
        yield Recipe("dimensions", f"{fmt}-{w}x{h}", lambda f=fmt, x=w, y=h: P.real_image(f, x, y))


def random_bytes(rng: random.Random) -> Iterator[Recipe]:
    fixed = {"empty": b"", "one-byte": b"\x89", "zeros-1mb": bytes(P.MB), "ff-64k": b"\xff" * 65536}
    for label, data in fixed.items():
        yield Recipe("random", label, _fixed(data))
    for label, head in _MAGICS.items():
        yield Recipe("random", f"magic-only-{label}", _fixed(head))
    for i in range(120):
        data = rng.randbytes(rng.choice((16, 100, 1000, 20_000, 65_536)))
        yield Recipe("random", f"noise{i}", _fixed(data))
    for i in range(240):
        head = _MAGICS[("png", "jpeg", "webp")[i % 3]]
        data = head + rng.randbytes(rng.choice((4, 50, 2000, 30_000)))
        yield Recipe("random", f"magic-noise{i}", _fixed(data))


def mutation(seeds: Seeds, rng: random.Random, number: int) -> Recipe:
    """A seeded sequence of 1-8 random edits on one seed (half aimed at the store)."""
    name = rng.choice(sorted(seeds))
    data = bytearray(seeds[name])
    store = store_of(bytes(data))
    lo, hi = 0, len(data)
    if store is not None and rng.random() < 0.5:
        lo = store_offset(bytes(data))
        hi = min(len(data), lo + len(store))
    for _ in range(rng.randint(1, 8)):
        at = rng.randrange(lo, max(lo + 1, min(hi, len(data))))
        op = rng.choice(("flip", "set", "insert", "delete", "duplicate", "truncate"))
        if op == "flip" and at < len(data):
            data[at] ^= 1 << rng.randrange(8)
        elif op == "set" and at < len(data):
            data[at] = rng.choice((0, 0xFF, 0x7F, 0x80, rng.randrange(256)))
        elif op == "insert":
            data[at:at] = rng.randbytes(rng.randint(1, 64))
        elif op == "delete":
            del data[at : at + rng.randint(1, 64)]
        elif op == "duplicate":
            data[at:at] = data[at : at + rng.randint(1, 256)]
        elif op == "truncate" and rng.random() < 0.3:
            del data[at:]
    out = bytes(data)
    if rng.random() < 0.5 and out.startswith(b"\x89PNG"):
        with contextlib.suppress(struct.error, ValueError):
            out = _refresh_png_crc(out)
    return Recipe("mutation", f"{name}-m{number}", _fixed(out))

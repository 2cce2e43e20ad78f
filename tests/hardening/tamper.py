"""Tampering with signed images, measured: every case must fail `verify`.

For each format (PNG, JPEG, WebP) the suite signs images through the studio's signer and
then attacks them six ways: pixel edits (re-encoded or bytes flipped in the image data,
the original manifest kept), metadata stripping, manifest grafting from another signed
image, byte edits inside each assertion (and the claim and signature), ingredient swaps
(an ingredient assertion or an ingredient's own manifest taken from another image), and
re-signing with keys the studio does not trust (another CA; one with our CA's very names).

A case is detected when the verifier does not call the file `trusted`.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from tests.hardening.containers import (
    FORMATS,
    SUFFIX,
    Box,
    box_spans,
    graft,
    manifests,
    parse_store,
    store_of,
    store_offset,
    with_store,
)
from tests.hardening.corpus import _refresh_png_crc
from tests.hardening.seeds import PIL_FORMAT, SigningKit, image_bytes

KINDS = (
    "pixel_edit",
    "metadata_strip",
    "manifest_graft",
    "assertion_edit",
    "ingredient_swap",
    "resign_untrusted",
)


@dataclass(frozen=True)
class TamperCase:
    """One tampered file and what was done to it."""

    fmt: str
    kind: str
    name: str
    data: bytes = field(repr=False)


@dataclass
class TamperResult:
    """Detected / total per (format, kind), and the cases that got through."""

    totals: Counter[tuple[str, str]] = field(default_factory=Counter)
    detected: Counter[tuple[str, str]] = field(default_factory=Counter)
    states: Counter[str] = field(default_factory=Counter)
    missed: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.totals.values())

    @property
    def detected_total(self) -> int:
        return sum(self.detected.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "cases": self.total,
            "detected": self.detected_total,
            "by_format_and_kind": {
                f"{fmt}/{kind}": f"{self.detected[(fmt, kind)]}/{n}"
                for (fmt, kind), n in sorted(self.totals.items())
            },
            "verdicts": dict(self.states),
            "missed": self.missed,
        }


def reencode(
    data: bytes, edit: Callable[[Image.Image], Image.Image] | None = None, **save: Any
) -> bytes:
    """Decode and encode again in the same format (metadata dropped), optionally editing."""
    img = Image.open(io.BytesIO(data))
    fmt = img.format or "PNG"
    pixels = img.convert("RGB")
    if edit is not None:
        pixels = edit(pixels)
    buf = io.BytesIO()
    options: dict[str, Any] = {"quality": 90} if fmt != "PNG" else {}
    pixels.save(buf, format=fmt, **{**options, **save})
    return buf.getvalue()


def _one_pixel(img: Image.Image) -> Image.Image:
    r, g, b = img.getpixel((0, 0))  # type: ignore[misc]
    img.putpixel((0, 0), (255 - r, g, b))
    return img


def _invert_block(img: Image.Image) -> Image.Image:
    from PIL import ImageOps

    block = ImageOps.invert(img.crop((8, 8, 24, 24)))
    img.paste(block, (8, 8))
    return img


def _crop(img: Image.Image) -> Image.Image:
    return img.crop((0, 0, img.width - 1, img.height - 1))


def _flip(data: bytes, at: int) -> bytes:
    return _refresh_png_crc(data[:at] + bytes([data[at] ^ 0x10]) + data[at + 1 :])


def _image_data_offsets(data: bytes, count: int) -> list[int]:
    """Offsets spread over the bytes that are neither the manifest store nor headers."""
    start = store_offset(data) + len(store_of(data) or b"")
    lo, hi = max(start, len(data) // 3), len(data) - 16
    return [lo + (hi - lo) * (k + 1) // (count + 1) for k in range(count)]


def pixel_edits(fmt: str, signed: bytes) -> Iterator[TamperCase]:
    store = store_of(signed)
    for label, edit in (
        ("one-pixel", _one_pixel),
        ("block-inverted", _invert_block),
        ("cropped", _crop),
    ):
        yield TamperCase(fmt, "pixel_edit", label, with_store(reencode(signed, edit), store))
    for k, at in enumerate(_image_data_offsets(signed, 8)):
        yield TamperCase(fmt, "pixel_edit", f"image-data-byte-{k}", _flip(signed, at))


def metadata_strips(fmt: str, signed: bytes, with_parent: bytes) -> Iterator[TamperCase]:
    yield TamperCase(fmt, "metadata_strip", "store-removed", with_store(signed, None))
    yield TamperCase(fmt, "metadata_strip", "reencoded", reencode(signed))
    root = parse_store(store_of(signed) or b"")
    empty = Box(b"jumb", children=[root.children[0]])
    yield TamperCase(fmt, "metadata_strip", "store-emptied", with_store(signed, empty.encode()))
    tree = parse_store(store_of(with_parent) or b"")
    tree.children = tree.children[:-1]  # the active (last) manifest gone, the parent's kept
    yield TamperCase(
        fmt, "metadata_strip", "active-manifest-removed", with_store(with_parent, tree.encode())
    )


def grafts(
    fmt: str, signed: bytes, donor: bytes, unsigned: bytes, other_fmt: bytes
) -> Iterator[TamperCase]:
    yield TamperCase(fmt, "manifest_graft", "onto-unsigned-image", graft(unsigned, signed))
    yield TamperCase(fmt, "manifest_graft", "stores-swapped", graft(signed, donor))
    # Same pixels, other encoder settings: the credentials bind the bytes, not the picture.
    other = {"compress_level": 1} if fmt == "png" else {"quality": 80}
    yield TamperCase(
        fmt, "manifest_graft", "same-pixels-reencoded", graft(reencode(signed, **other), signed)
    )
    yield TamperCase(fmt, "manifest_graft", "from-another-format", graft(signed, other_fmt))


def assertion_edits(fmt: str, signed: bytes) -> Iterator[TamperCase]:
    """A byte flipped at the start, middle and end of every assertion, claim and signature."""
    base = store_offset(signed)
    boxes = box_spans(store_of(signed) or b"", base)
    active = manifests(parse_store(store_of(signed) or b""))[-1].label
    inside = False
    for i, box in enumerate(boxes):
        if box.kind == b"jumb" and box.depth == 1:
            inside = box.label == active
        if not inside or box.kind == b"jumb" or box.kind == b"jumd":
            continue
        owner = next(b.label for b in reversed(boxes[:i]) if b.kind == b"jumb")
        # The COSE signature's middle is its unprotected `pad` (zeros c2pa reserves so a
        # manifest can be rewritten in place; outside the signature by design): aim at the
        # protected header (algorithm, certificate chain) instead.
        middle = (
            box.body_start + 24 if owner == "c2pa.signature" else (box.body_start + box.end) // 2
        )
        for where, at in (("first", box.body_start), ("middle", middle), ("last", box.end - 1)):
            yield TamperCase(fmt, "assertion_edit", f"{owner}-{where}", _flip(signed, at))
    for old, new in (
        (b"alice", b"mallo"),
        (b"apache-2.0", b"research-1"),
        (b"lighthouse", b"LIGHTHOUSE"),
    ):
        if old in signed:
            at = signed.index(old)
            edited = signed[:at] + new + signed[at + len(old) :]
            yield TamperCase(
                fmt, "assertion_edit", f"text-{old.decode()}", _refresh_png_crc(edited)
            )


def _sibling_ingredient(pair: tuple[bytes, bytes]) -> bytes:
    """The first image with its active manifest's ingredient assertion taken from the second."""
    mine, theirs = (parse_store(store_of(d) or b"") for d in pair)
    target = manifests(mine)[-1].find("c2pa.ingredient.v3")
    donor = manifests(theirs)[-1].find("c2pa.ingredient.v3")
    assert target is not None and donor is not None
    target.children = donor.children
    return with_store(pair[0], mine.encode())


def ingredient_swaps(
    fmt: str, styled: tuple[bytes, bytes], parented: tuple[bytes, bytes]
) -> Iterator[TamperCase]:
    """Ingredient assertions or ingredient manifests taken from a sibling image."""
    yield TamperCase(
        fmt, "ingredient_swap", "style-assertion-from-sibling", _sibling_ingredient(styled)
    )
    mine, theirs = (parse_store(store_of(d) or b"") for d in parented)
    first = mine.children.index(manifests(mine)[0])
    mine.children[first] = manifests(theirs)[0]  # the parent's own manifest, from another one
    yield TamperCase(
        fmt,
        "ingredient_swap",
        "parent-manifest-from-sibling",
        with_store(parented[0], mine.encode()),
    )
    yield TamperCase(
        fmt, "ingredient_swap", "parent-assertion-from-sibling", _sibling_ingredient(parented)
    )
    mine = parse_store(store_of(parented[0]) or b"")
    assertions = manifests(mine)[-1].find("c2pa.assertions")
    assert assertions is not None
    assertions.children = [c for c in assertions.children if c.label != "c2pa.ingredient.v3"]
    yield TamperCase(
        fmt, "ingredient_swap", "ingredient-dropped", with_store(parented[0], mine.encode())
    )


def resignings(fmt: str, signed: bytes, foreigners: list[SigningKit]) -> Iterator[TamperCase]:
    for n, kit in enumerate(foreigners):
        stripped = with_store(signed, None)
        yield TamperCase(
            fmt, "resign_untrusted", f"ca{n}-stripped-and-resigned", kit.sign(stripped)
        )
        yield TamperCase(fmt, "resign_untrusted", f"ca{n}-signed-over", kit.sign(signed))
        edited = reencode(signed, _one_pixel)
        yield TamperCase(fmt, "resign_untrusted", f"ca{n}-edited-and-resigned", kit.sign(edited))


def build_cases(kit: SigningKit, scratch: Path) -> list[TamperCase]:
    """Every tamper case for every format (signing happens here)."""
    foreigners = [kit.foreign("other-ca"), _lookalike(kit)]
    cases: list[TamperCase] = []
    styles = [
        kit.ingredient(scratch, f"style-{i}.png", "inputTo", image_bytes("png", 32, seed=20 + i))
        for i in (1, 2)
    ]
    parents = [
        kit.ingredient(
            scratch,
            f"parent-{i}.jpg",
            "parentOf",
            kit.sign(image_bytes("jpeg", 32, seed=30 + i), title=f"parent-{i}.jpg"),
        )
        for i in (1, 2)
    ]
    try:
        for fmt in FORMATS:
            title = "t" + SUFFIX[fmt]
            signed = kit.sign(image_bytes(fmt, 64, seed=11), title=title)
            donor = kit.sign(image_bytes(fmt, 64, seed=12), title=title)
            other = kit.sign(image_bytes("png" if fmt != "png" else "jpeg", 64, seed=13))
            pixels = image_bytes(fmt, 64, seed=14)
            styled = tuple(kit.sign(pixels, title=title, ingredients=(s,)) for s in styles)
            parented = tuple(kit.sign(pixels, title=title, ingredients=(p,)) for p in parents)
            cases += pixel_edits(fmt, signed)
            cases += metadata_strips(fmt, signed, parented[0])
            cases += grafts(fmt, signed, donor, image_bytes(fmt, 64, seed=15), other)
            cases += assertion_edits(fmt, signed)
            cases += assertion_edits(fmt, styled[0])
            cases += ingredient_swaps(fmt, styled, parented)  # type: ignore[arg-type]
            cases += resignings(fmt, signed, foreigners)
    finally:
        for foreign in foreigners:
            foreign.close()
    return cases


def _lookalike(kit: SigningKit) -> SigningKit:
    """A CA whose certificates carry our CA's very names, with keys of its own."""
    from provenance.credentials.keys import create_dev_ca

    home = kit.home.parent / f"{kit.home.name}-lookalike"
    subject = kit.signer.certificate_info()["subject"]
    organisation = next(
        (part.split("=", 1)[1] for part in subject.split(",") if part.startswith("O=")),
        "Provenant Hardening",
    )
    create_dev_ca(home / "keys", organisation)
    return SigningKit.for_studio(home)


def measure(kit: SigningKit, cases: list[TamperCase], scratch: Path) -> TamperResult:
    """Verify every case; count what the verifier refused to call trusted."""
    from provenance.verify.verifier import State

    scratch.mkdir(parents=True, exist_ok=True)
    verifier = kit.verifier()
    result = TamperResult()
    for n, case in enumerate(cases):
        path = scratch / f"{n:04d}-{case.kind}{SUFFIX[case.fmt]}"
        path.write_bytes(case.data)
        report = verifier.verify_file(path)
        key = (case.fmt, case.kind)
        result.totals[key] += 1
        result.states[report.state.value] += 1
        if report.state is not State.TRUSTED:
            result.detected[key] += 1
        else:
            result.missed.append(f"{case.fmt}/{case.kind}/{case.name}")
        path.unlink()
    return result


__all__ = ["KINDS", "PIL_FORMAT", "TamperCase", "TamperResult", "build_cases", "measure"]

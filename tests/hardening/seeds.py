"""Seed images and a signing kit: a data dir with a development CA, and a signer on it.

The hostile corpus and the tamper suite start from files the real signing path produced
(`CredentialSigner` with the studio's manifest builder), so every mutation lands in the
structures a verifier actually meets.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from provenance.config import Settings
from provenance.credentials.keys import create_dev_ca, ensure_prompt_salt
from provenance.credentials.manifest import ManifestSpec, build_manifest
from provenance.credentials.signing import CredentialSigner
from provenance.types import GenerationRequest, InputImage
from provenance.verdict import Verdict
from provenance.verify.verifier import Verifier
from tests.fixtures.trust.helpers import MODEL
from tests.hardening.containers import FORMATS, MIME, SUFFIX

PIL_FORMAT = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


def image_bytes(fmt: str = "png", size: int = 64, seed: int = 0, **save: Any) -> bytes:
    """Noise pixels encoded as `fmt` (noise keeps the encoders from shrinking them to nothing)."""
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    buf = io.BytesIO()
    options: dict[str, Any] = {"quality": 90} if fmt != "png" else {}
    img.save(buf, format=PIL_FORMAT[fmt], **{**options, **save})
    return buf.getvalue()


def manifest_spec(
    title: str, prompt: str, ingredients: tuple[InputImage, ...] = ()
) -> ManifestSpec:
    """A complete manifest spec, like the pipeline's for one generated image."""
    request = GenerationRequest(
        prompt=prompt,
        generator="gan",
        requester="alice",
        project="harbour",
        use="commercial",
        license="studio-internal",
    )
    return ManifestSpec(
        asset_id="ast-hardening",
        title=title,
        request=request,
        model=MODEL,
        seed=42,
        params={"steps": 4, "size": [64, 64]},
        prompt_verdict=Verdict.allow(),
        image_verdict=Verdict.allow(),
        ingredients=ingredients,
    )


@dataclass
class SigningKit:
    """A data dir with a development CA, settings that trust it, and a signer.

    `foreign()` makes a second kit: another CA that these settings do not trust, for
    re-signing attacks.
    """

    home: Path
    settings: Settings
    signer: CredentialSigner
    _verifier: Verifier | None = field(default=None, repr=False)

    @classmethod
    def create(cls, home: Path, organisation: str = "Provenant Hardening") -> SigningKit:
        home.mkdir(parents=True, exist_ok=True)
        create_dev_ca(home / "keys", organisation)
        ensure_prompt_salt(home / "keys")
        anchors = [str(home / "keys" / "dev-root-ca.pem")]
        settings = Settings.load(home=home, env={}, overrides={"trust": {"anchors": anchors}})
        return cls(home, settings, CredentialSigner.from_settings(settings))

    @classmethod
    def for_studio(cls, home: Path) -> SigningKit:
        """A kit signing with an initialised data dir's own key (as its pipeline does)."""
        settings = Settings.load(home=home, env={})
        return cls(home, settings, CredentialSigner.from_settings(settings))

    def foreign(self, name: str = "foreign") -> SigningKit:
        """A kit with its own CA (same manifest builder, untrusted by this kit's settings)."""
        return SigningKit.create(self.home.parent / f"{self.home.name}-{name}", "Other Studio")

    def sign(
        self,
        data: bytes,
        *,
        title: str = "out.png",
        prompt: str = "a lighthouse at dusk",
        ingredients: tuple[InputImage, ...] = (),
    ) -> bytes:
        """`data` (PNG, JPEG or WebP bytes) with signed credentials embedded."""
        from tests.hardening.containers import format_of

        spec = manifest_spec(title, prompt, ingredients)
        mime = MIME[format_of(data)]
        return self.signer.sign(data, mime, build_manifest(spec), ingredients).data

    def verifier(self) -> Verifier:
        """A verifier trusting this kit's CA (no ledger check: credentials alone)."""
        if self._verifier is None:
            self._verifier = Verifier(self.settings)
        return self._verifier

    def ingredient(self, folder: Path, name: str, relationship: str, data: bytes) -> InputImage:
        """Write `data` as an input image and describe it as an ingredient."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        path.write_bytes(data)
        return InputImage.from_path(path, relationship)  # type: ignore[arg-type]

    def close(self) -> None:
        self.signer.close()


def signed_seeds(kit: SigningKit, scratch: Path) -> dict[str, bytes]:
    """Signed files the corpus mutates: plain, with ingredients, and with a thumbnail."""
    seeds: dict[str, bytes] = {}
    for fmt in FORMATS:
        seeds[f"signed-{fmt}"] = kit.sign(image_bytes(fmt, 64, seed=1), title="s" + SUFFIX[fmt])
    style = kit.ingredient(scratch, "style.png", "inputTo", image_bytes("png", 32, seed=7))
    parent_data = kit.sign(image_bytes("jpeg", 32, seed=8), title="parent.jpg")
    parent = kit.ingredient(scratch, "parent.jpg", "parentOf", parent_data)
    seeds["signed-png-ingredients"] = kit.sign(
        image_bytes("png", 48, seed=2), title="i.png", ingredients=(parent, style)
    )
    return seeds


def plain_seeds() -> dict[str, bytes]:
    """Unsigned images in the encodings a studio meets (modes, interlacing, progressive...)."""
    rgba = Image.fromarray(np.random.default_rng(3).integers(0, 255, (24, 24, 4), dtype=np.uint8))
    seeds = {f"plain-{fmt}": image_bytes(fmt, 32, seed=4) for fmt in FORMATS}
    variants: dict[str, tuple[Image.Image, str, dict[str, Any]]] = {
        "plain-png-rgba": (rgba, "PNG", {}),
        "plain-png-palette": (rgba.convert("RGB").convert("P"), "PNG", {}),
        "plain-png-grey16": (rgba.convert("I;16"), "PNG", {}),
        "plain-png-interlaced": (rgba.convert("RGB"), "PNG", {"interlace": 1}),
        "plain-jpeg-progressive": (rgba.convert("RGB"), "JPEG", {"progressive": True}),
        "plain-jpeg-cmyk": (rgba.convert("CMYK"), "JPEG", {}),
        "plain-jpeg-grey": (rgba.convert("L"), "JPEG", {}),
        "plain-webp-lossless": (rgba, "WEBP", {"lossless": True}),
    }
    for name, (img, fmt, options) in variants.items():
        buf = io.BytesIO()
        img.save(buf, format=fmt, **options)
        seeds[name] = buf.getvalue()
    return seeds


#: Shapes a signer may put under our assertion labels (c2pa signs any JSON there).
ODD_ASSERTIONS: dict[str, tuple[str, Any]] = {
    "generation-int": ("org.provenant.generation", 5),
    "generation-text": ("org.provenant.generation", "text"),
    "generation-odd-fields": (
        "org.provenant.generation",
        {"model": "x", "generator": [1], "seed": "s", "prompt": {"a": 1}},
    ),
    "attribution-list": ("org.provenant.attribution", [1, 2]),
    "attribution-works-int": ("org.provenant.attribution", {"works": 7}),
    "attribution-works-mixed": ("org.provenant.attribution", {"works": ["a", 1, {"id": 3}]}),
    "policy-text": ("org.provenant.policy", "x"),
    "training-mining-int": ("cawg.training-mining", 3),
    "training-mining-entries": ("cawg.training-mining", {"entries": {"cawg.ai_training": 1}}),
}


def crafted_seeds(kit: SigningKit) -> dict[str, bytes]:
    """Validly signed files whose Provenant assertions hold unexpected shapes."""
    import copy

    base = build_manifest(manifest_spec("crafted.png", "a lighthouse at dusk"))
    out = {}
    for name, (label, data) in ODD_ASSERTIONS.items():
        manifest = copy.deepcopy(base)
        for assertion in manifest["assertions"]:
            if assertion["label"] == label:
                assertion["data"] = data
        fmt = FORMATS[len(out) % len(FORMATS)]
        pixels = image_bytes(fmt, 32, seed=len(out))
        out[f"crafted-{name}"] = kit.signer.sign(pixels, MIME[fmt], manifest).data
    return out

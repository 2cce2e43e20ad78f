"""Signing and recording images made elsewhere (`provenant sign`).

A studio that also uses other tools brings their outputs under the same rules: each image is
screened by the image policies (known works, unsafe content) and, when a prompt is given, by
the prompt policies; then it is signed as AI-generated media with the generator and model the
studio declares, and recorded in the ledger.  The original file is never changed unless
`in_place` is asked for; a refused image is recorded as a refusal and not signed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provenance.errors import BadInputError, PolicyBlocked
from provenance.ids import new_asset_id
from provenance.imageio import open_image, read_file, sniff_mime
from provenance.policyset import as_screenable
from provenance.recording import asset_record
from provenance.studio import Studio
from provenance.types import GeneratedImage, GenerationRequest, ModelInfo, new_id
from provenance.verdict import Verdict


@dataclass(frozen=True)
class ImportSpec:
    """What the studio declares about images made elsewhere."""

    generator: str
    model: str
    prompt: str | None = None
    model_license: str = "unknown"
    requester: str | None = None
    project: str | None = None
    license: str | None = None
    use: str | None = None


@dataclass(frozen=True)
class ImportResult:
    """One signed and recorded import."""

    source: Path
    path: Path
    asset_id: str
    sha256: str
    manifest_label: str
    verdict: Verdict

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: one object per file in `sign --json`."""
        return {
            "source": str(self.source),
            "path": str(self.path),
            "asset_id": self.asset_id,
            "sha256": self.sha256,
            "manifest_label": self.manifest_label,
            "verdict": self.verdict.as_dict(),
        }


def declared_card(spec: ImportSpec) -> ModelInfo:
    """The model card for a model Provenant did not run: what the studio declares, no more."""
    return ModelInfo(
        name=spec.model,
        version="",
        architecture="unknown (generated outside Provenant)",
        license=spec.model_license,
        training_data="unknown",
        weights_sha256="",
    )


def sign_external(
    studio: Studio,
    source: Path,
    spec: ImportSpec,
    out_dir: Path | None,
    *,
    in_place: bool = False,
) -> ImportResult:
    """Screen, sign and record one file; raises `PolicyBlocked` after recording a refusal."""
    if out_dir is None and not in_place:
        raise BadInputError("give --out DIR (or --in-place to sign the originals themselves)")
    data = read_file(source)
    mime = sniff_mime(data, source)
    pixels = open_image(data, str(source)).convert("RGB")
    card = declared_card(spec)
    request = studio.prepare(
        GenerationRequest(
            prompt=spec.prompt or "",
            generator=spec.generator,
            request_id=new_id("imp"),
            requester=spec.requester,
            project=spec.project,
            license=spec.license,
            use=spec.use,
            model_card=card,
        )
    )
    image = as_screenable(pixels, seed=0, card=card)
    prompt_verdict = _screen_prompt(studio, request, spec)
    image_verdict = studio.policies.screen_image(image, request)
    digest = hashlib.sha256(data).hexdigest()
    studio.enforce(image_verdict, request, "image", 0, digest)
    return _sign_and_store(
        studio, source, data, mime, request, image, (prompt_verdict, image_verdict), out_dir
    )


def _screen_prompt(studio: Studio, request: GenerationRequest, spec: ImportSpec) -> Verdict:
    if spec.prompt is None:
        return Verdict.allow()
    verdict = studio.policies.screen_prompt(request)
    studio.enforce(verdict, request, "prompt", None, None)
    return verdict


def _sign_and_store(
    studio: Studio,
    source: Path,
    data: bytes,
    mime: str,
    request: GenerationRequest,
    image: GeneratedImage,
    verdicts: tuple[Verdict, Verdict],
    out_dir: Path | None,
) -> ImportResult:
    from provenance.manifest import ManifestSpec, build_import_manifest

    asset_id = new_asset_id()
    attributions = [a for v in verdicts for a in v.attributions]
    manifest = build_import_manifest(
        ManifestSpec(
            asset_id=asset_id,
            title=source.name,
            request=request,
            model=image.model_info,
            seed=None,
            params={"source_file": source.name},
            prompt_verdict=verdicts[0] if request.prompt else None,
            image_verdict=verdicts[1],
            attributions=attributions,
            manifest_settings=studio.settings.manifest,
            prompt_salt=studio.prompt_salt,
            generator=request.generator,
            policies=studio.policies.names,
        )
    )
    signed = studio.signer.sign(data, mime, manifest)
    record = asset_record(
        request=request,
        image=image,
        asset_id=asset_id,
        mime=mime,
        signed=signed,
        verdicts=verdicts,
        attributions=attributions,
        signer_fingerprint=studio.signer_fingerprint,
        prompt_salt=studio.prompt_salt,
        settings=studio.settings,
        seed=None,
    )
    target = source.parent if out_dir is None else out_dir
    stored = studio.store.commit(
        target, source.name, signed.data, record, overwrite=out_dir is None
    )
    return ImportResult(
        source, stored.path, asset_id, signed.sha256, signed.manifest_label, verdicts[1]
    )


__all__ = ["ImportResult", "ImportSpec", "PolicyBlocked", "declared_card", "sign_external"]

"""Signing and recording images made elsewhere (`provenant sign`).

A studio that also uses other tools brings their outputs under the same rules: each image is
screened by the image policies (known works, unsafe content) and, when a prompt is given, by
the prompt policies; then it is signed as AI-generated media with the generator and model the
studio declares, and recorded in the ledger.  The original file is never changed unless
`in_place` is asked for; a refused image is recorded as a refusal and not signed.

A file that already carries C2PA credentials keeps them
(`provenance.credentials.parent`): it becomes
the `parentOf` ingredient of the new manifest (its manifest store carried along, its
validation results recorded), the actions are `c2pa.opened` then `c2pa.edited.metadata`
(screened and signed, pixels unchanged), and nothing says the image was newly created.
Credentials that fail validation are refused before any work unless `accept_invalid_parent`
is given; then the ingredient, the generation assertion and the ledger row record the
failure.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.credentials.parent import ParentIngredient, parent_ingredient
from provenance.errors import BadInputError, PolicyBlocked
from provenance.imageio import open_image, read_file, sniff_mime
from provenance.pipeline.policyset import as_screenable
from provenance.pipeline.publish import Publication, SignedFile, publish
from provenance.pipeline.studio import Studio
from provenance.types import GeneratedImage, GenerationRequest, ModelInfo, new_id
from provenance.verdict import Verdict

if TYPE_CHECKING:
    from provenance.credentials.manifest import EditStep

#: The action `sign` records after opening a file's own credentials: nothing about the
#: pixels changed; the studio screened the file and added its assertions.
RESIGN_ACTION = "c2pa.edited.metadata"


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
class ImportResult(SignedFile):
    """One signed and recorded import."""

    parent: ParentIngredient | None = None
    degraded: dict[str, str] | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: one object per file in `sign --json`."""
        return {
            **self.file_dict(),
            "parent": self.parent.credentials.as_dict() if self.parent else None,
            "degraded": dict(self.degraded or {}),
        }


def declared_card(spec: ImportSpec) -> ModelInfo:
    """The model card for a model Provenant did not run: what the studio declares, no more."""
    return ModelInfo.external(spec.model, spec.model_license)


def sign_external(
    studio: Studio,
    source: Path,
    spec: ImportSpec,
    out_dir: Path | None,
    *,
    in_place: bool = False,
    accept_invalid_parent: bool = False,
) -> ImportResult:
    """Screen, sign and record one file; raises `PolicyBlocked` after recording a refusal.

    Raises `InvalidParentError` before any work when the file's own credentials fail
    validation and `accept_invalid_parent` is not given.
    """
    if out_dir is None and not in_place:
        raise BadInputError("give --out DIR (or --in-place to sign the originals themselves)")
    data = read_file(source)
    mime = sniff_mime(data, source)
    pixels = open_image(data, str(source)).convert("RGB")
    digest = hashlib.sha256(data).hexdigest()
    parent = _parent(studio, source, data, mime, digest, accept_invalid_parent)
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
    studio.enforce(image_verdict, request, "image", 0, digest)
    verdicts = (prompt_verdict, image_verdict)
    return _sign_and_store(studio, source, data, mime, request, image, verdicts, out_dir, parent)


def _parent(
    studio: Studio, source: Path, data: bytes, mime: str, digest: str, accept_invalid: bool
) -> ParentIngredient | None:
    """The file as its own parent when it carries credentials (refused if they are invalid)."""
    credentials = studio.credential_reader.read(data, mime)
    if credentials is None:
        return None
    credentials.require_acceptable(source, accept_invalid)
    return parent_ingredient(source, data, mime, digest, credentials)


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
    parent: ParentIngredient | None,
) -> ImportResult:
    attributions = [a for v in verdicts for a in v.attributions]
    published = publish(
        studio,
        Publication(
            request=request,
            image=image,
            data=data,
            mime=mime,
            verdicts=verdicts,
            attributions=attributions,
            out_dir=source.parent if out_dir is None else out_dir,
            filename=source.name,
            seed=None,
            params={"source_file": source.name},
            ingredients=(parent.image,) if parent else (),
            ledger_ingredients=(parent.ledger_record(),) if parent else None,
            edits=_resign_steps(request, image) if parent else (),
            parent=parent.credentials if parent else None,
            imported=True,
            prompt_in_manifest=bool(request.prompt),
            overwrite=out_dir is None,
        ),
    )
    asset_id, signed, stored = published.asset_id, published.signed, published.stored
    degraded = studio.degraded_layers
    return ImportResult(
        source,
        stored.path,
        asset_id,
        signed.sha256,
        signed.manifest_label,
        verdicts[1],
        parent,
        degraded,
    )


def _resign_steps(request: GenerationRequest, image: GeneratedImage) -> tuple[EditStep, ...]:
    """What `sign` did to a file that had credentials: screened and signed it, no more."""
    from provenance.credentials.manifest import EditStep

    card = image.model_info
    declared = f"{request.generator} ({card.name})".strip()
    return (
        EditStep(
            RESIGN_ACTION,
            "screened by the studio's policies and signed by Provenant; pixels unchanged, "
            f"generator declared by the studio: {declared}",
        ),
    )


__all__ = ["ImportResult", "ImportSpec", "PolicyBlocked", "declared_card", "sign_external"]

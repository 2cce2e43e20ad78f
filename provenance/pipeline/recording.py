"""Ledger records built from pipeline objects: one mapping, used by `generate` and `sign`.

The prompt is kept in full or only as the studio's salted hash, by `manifest.prompt`, in the
ledger exactly as in the manifest; refusal ids are derived from (request, stage, image) so a
resumed batch can never record the same refusal twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from provenance.types import Attribution, GeneratedImage, GenerationRequest
from provenance.verdict import Verdict

if TYPE_CHECKING:
    from provenance.config import Settings
    from provenance.credentials.signing import SignedAsset
    from provenance.ledger import AssetRecord, IngredientRecord, RefusalRecord

_STAGE_OF = ("prompt", "image")


def prompt_fields(
    text: str | None, salt: bytes | None, settings: Settings
) -> tuple[str | None, str | None]:
    """(prompt, prompt_hash) as the ledger keeps them: full text, or only the salted hash."""
    if text is None:
        return None, None
    if settings.manifest.prompt == "full" or salt is None:
        return text, None
    from provenance.credentials.manifest import prompt_digest

    return None, prompt_digest(text, salt)["hmac_sha256"]


def refusal_id(request_id: str, stage: str, index: int | None) -> str:
    """A refusal id fixed by what was refused, so the same refusal cannot be recorded twice."""
    key = f"{request_id}\x00{stage}\x00{'' if index is None else index}"
    return "ref-" + hashlib.sha256(key.encode()).hexdigest()[:24]


def refusal_record(
    request: GenerationRequest,
    stage: str,
    verdict: Verdict,
    index: int | None,
    image_sha256: str | None,
    salt: bytes | None,
    settings: Settings,
    degraded_layers: Mapping[str, str] | None = None,
) -> RefusalRecord:
    """The ledger row for a refused request (index None) or a refused image.

    `degraded_layers` are the policy layers bypassed while judging it ({layer: why}).
    """
    from provenance.ledger import RefusalRecord, decisions_from_verdict

    prompt, prompt_hash = prompt_fields(request.prompt, salt, settings)
    card = request.model_card
    return RefusalRecord(
        refusal_id=refusal_id(request.request_id, stage, index),
        request_id=request.request_id,
        stage=stage,
        action=verdict.action.value,
        prompt=prompt,
        prompt_hash=prompt_hash,
        generator=request.generator,
        model_name=card.name if card else request.model,
        image_sha256=image_sha256,
        image_index=index,
        requester=request.requester,
        project=request.project,
        use=request.use,
        license=request.license,
        decisions=decisions_from_verdict(verdict, stage),
        degraded_layers=dict(degraded_layers or {}),
    )


def asset_record(
    *,
    request: GenerationRequest,
    image: GeneratedImage,
    asset_id: str,
    mime: str,
    signed: SignedAsset,
    verdicts: Sequence[Verdict],
    attributions: Sequence[Attribution],
    signer_fingerprint: str,
    prompt_salt: bytes | None,
    settings: Settings,
    seed: int | None,
    degraded_layers: Mapping[str, str] | None = None,
    ingredients: Sequence[IngredientRecord] | None = None,
    contributors: Sequence[Mapping[str, Any]] | None = None,
) -> AssetRecord:
    """The ledger row for one signed output (`AssetStore.commit` fills in the path).

    `degraded_layers`: policy layers bypassed while screening it ({layer: why}).
    `ingredients` defaults to the request's input images (a signed import passes its
    parent, with the parent's manifest label and validation state).  `contributors` are
    the people behind a human step (`provenance.credentials.editing.HumanStep.contributor`).
    """
    from provenance.ledger import (
        AssetRecord,
        AttributionRecord,
        IngredientRecord,
        decisions_from_verdict,
    )

    prompt, prompt_hash = prompt_fields(request.prompt, prompt_salt, settings)
    negative, _ = prompt_fields(request.negative_prompt, prompt_salt, settings)
    decisions = tuple(
        row
        for stage, verdict in zip(_STAGE_OF, verdicts, strict=True)
        for row in decisions_from_verdict(verdict, stage)
    )
    return AssetRecord(
        asset_id=asset_id,
        request_id=request.request_id,
        image_index=image.index,
        sha256=signed.sha256,
        path="",
        mime=mime,
        generator=request.generator,
        model=image.model_info.as_dict(),
        model_name=image.model_info.name,
        seed=seed,
        prompt=prompt,
        prompt_hash=prompt_hash,
        negative_prompt=negative,
        params=dict(image.params),
        manifest_label=signed.manifest_label,
        requester=request.requester,
        project=request.project,
        use=request.use,
        license=request.license,
        signer_fingerprint=signer_fingerprint,
        decisions=decisions,
        attributions=tuple(AttributionRecord.from_attribution(a) for a in attributions),
        ingredients=tuple(
            ingredients
            if ingredients is not None
            else (IngredientRecord.from_input_image(i) for i in request.input_images)
        ),
        degraded_layers=dict(degraded_layers or {}),
        contributors=list(contributors) if contributors else None,
    )

"""Signing and recording one output: the one path that `generate`, `sign` and signed edits share.

Every image that leaves the studio goes through `publish`: its manifest is built from what the
studio knows (manifest settings, prompt salt, enabled policies, bypassed layers), c2pa signs
it, and the file and its ledger row are committed together (`AssetStore.commit`).  The callers
differ only in what they declare about the image (`Publication`): its title and file name,
seed and parameters, ingredients, edit steps, the parent's credentials and the people
involved.  Keeping one path means a new assertion, ledger column or soft binding is added
once and reaches every output.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Container, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from provenance.errors import LedgerError
from provenance.ids import new_asset_id
from provenance.pipeline.recording import asset_record
from provenance.types import Attribution, GeneratedImage, GenerationRequest, InputImage
from provenance.verdict import Verdict

if TYPE_CHECKING:
    from provenance.config import Settings
    from provenance.credentials.manifest import EditStep
    from provenance.credentials.parent import ParentCredentials
    from provenance.credentials.signing import CredentialSigner, SignedAsset
    from provenance.ledger import AssetRecord, Ledger
    from provenance.ledger.records import IngredientRecord
    from provenance.pipeline.policyset import PolicySet
    from provenance.pipeline.store import AssetStore, Commit, StoredAsset


class Publisher(Protocol):
    """What publishing needs of the studio (`provenance.pipeline.studio.Studio` is one)."""

    settings: Settings

    @property
    def prompt_salt(self) -> bytes | None: ...
    @property
    def policies(self) -> PolicySet: ...
    @property
    def degraded_layers(self) -> dict[str, str]: ...
    @property
    def signer(self) -> CredentialSigner: ...
    @property
    def signer_fingerprint(self) -> str: ...
    @property
    def store(self) -> AssetStore: ...


@dataclass(frozen=True)
class Publication:
    """What the caller declares about one image about to be signed and recorded.

    `verdicts` are (prompt, image); `prompt_in_manifest` is False for a `sign` without a
    prompt, whose manifest then carries no prompt verdict.  `ingredients` go into the
    manifest (c2pa copies their stores); `ledger_ingredients`, when given, replace the
    request's input images in the ledger row (a parent with its label and validation state).
    """

    request: GenerationRequest
    image: GeneratedImage
    data: bytes
    mime: str
    verdicts: tuple[Verdict, Verdict]
    attributions: Sequence[Attribution]
    out_dir: Path
    filename: str
    seed: int | None
    params: Mapping[str, Any]
    ingredients: Sequence[InputImage] = ()
    ledger_ingredients: Sequence[IngredientRecord] | None = None
    edits: Sequence[EditStep] = ()
    parent: ParentCredentials | None = None
    generator: str | None = None
    imported: bool = False
    origin: str | None = None
    contributors: Sequence[Mapping[str, Any]] = ()
    prompt_in_manifest: bool = True
    overwrite: bool = False


@dataclass(frozen=True)
class SignedFile:
    """What `sign` reports for every file it signed (imports and human steps alike)."""

    source: Path
    path: Path
    asset_id: str
    sha256: str
    manifest_label: str
    verdict: Verdict

    def file_dict(self) -> dict[str, Any]:
        """The fields every `sign --json` object starts with."""
        return {
            "source": str(self.source),
            "path": str(self.path),
            "asset_id": self.asset_id,
            "sha256": self.sha256,
            "manifest_label": self.manifest_label,
            "verdict": self.verdict.as_dict(),
        }


@dataclass(frozen=True)
class Published:
    """The signed bytes and the committed file and ledger row of one output."""

    asset_id: str
    signed: SignedAsset
    stored: StoredAsset


@dataclass(frozen=True)
class Sealed:
    """One output signed and its ledger row built, not yet committed (`commit_sealed`).

    The batched recorder of the farm holds these until a batch is due and commits them in
    one transaction (`AssetStore.commit_many`); `publish` commits each one at once.
    """

    pub: Publication
    asset_id: str
    signed: SignedAsset
    record: AssetRecord
    soft_binding: dict[str, Any] | None

    @property
    def watermark_id(self) -> int | None:
        """The watermark id this output carries (reserved until its row is committed)."""
        if self.soft_binding is None:
            return None
        value = self.soft_binding.get("watermark_id")
        return int(value) if value is not None else None

    def commit(self) -> Commit:
        """What `AssetStore.commit_many` writes for this output."""
        from provenance.pipeline.store import Commit

        return Commit(
            self.pub.out_dir,
            self.pub.filename,
            self.signed.data,
            self.record,
            self.soft_binding,
            self.pub.overwrite,
        )


def publish(
    studio: Publisher, pub: Publication, timings: dict[str, float] | None = None
) -> Published:
    """Build the manifest, sign, and commit the file with its ledger row."""
    return commit_sealed(studio, seal(studio, pub, timings), timings)


def seal(
    studio: Publisher,
    pub: Publication,
    timings: dict[str, float] | None = None,
    reserved: Container[int] = (),
) -> Sealed:
    """Build the manifest, add soft bindings, sign and build the ledger row (no commit).

    `reserved` are watermark ids held by outputs sealed but not yet committed: a fresh id
    is drawn again when it is one of them, so a batch never carries one id twice.
    """
    from provenance.credentials.manifest import ManifestSpec, build_manifest

    asset_id = new_asset_id()
    degraded = studio.degraded_layers
    spec = ManifestSpec(
        asset_id=asset_id,
        title=pub.filename,
        request=pub.request,
        model=pub.image.model_info,
        seed=pub.seed,
        params=pub.params,
        prompt_verdict=pub.verdicts[0] if pub.prompt_in_manifest else None,
        image_verdict=pub.verdicts[1],
        attributions=pub.attributions,
        ingredients=pub.ingredients,
        manifest_settings=studio.settings.manifest,
        prompt_salt=studio.prompt_salt,
        generator=pub.generator or pub.request.generator,
        policies=studio.policies.names,
        imported=pub.imported,
        edits=pub.edits,
        parent=pub.parent,
        degraded=degraded,
        origin=pub.origin,
        contributors=pub.contributors,
    )
    manifest = build_manifest(spec)
    data, soft_binding = pub.data, None
    if _soft_binding_on(studio.settings):
        from provenance.softbinding.marking import add_to_manifest, mark

        with timed(timings, "soft_binding"):
            marked = mark(
                pub.data,
                pub.mime,
                studio.settings.soft_binding,
                functools.partial(_free_watermark_id, studio.store.ledger, reserved),
                studio.settings.manifest.jpeg_quality,
            )
        data, manifest = marked.data, add_to_manifest(manifest, marked)
        soft_binding = marked.row
    with timed(timings, "sign"):
        signed = studio.signer.sign(data, pub.mime, manifest, pub.ingredients)
    record = asset_record(
        request=pub.request,
        image=pub.image,
        asset_id=asset_id,
        mime=pub.mime,
        signed=signed,
        verdicts=pub.verdicts,
        attributions=pub.attributions,
        signer_fingerprint=studio.signer_fingerprint,
        prompt_salt=studio.prompt_salt,
        settings=studio.settings,
        seed=pub.seed,
        degraded_layers=degraded,
        ingredients=pub.ledger_ingredients,
        contributors=pub.contributors or None,
    )
    if soft_binding is not None:
        soft_binding = {**soft_binding, "manifest_store": signed.manifest_store}
    return Sealed(pub, asset_id, signed, record, soft_binding)


def commit_sealed(
    studio: Publisher, sealed: Sealed, timings: dict[str, float] | None = None
) -> Published:
    """Commit one sealed output in its own transaction (file and row, or neither)."""
    pub = sealed.pub
    with timed(timings, "store"):
        stored = studio.store.commit(
            pub.out_dir,
            pub.filename,
            sealed.signed.data,
            sealed.record,
            overwrite=pub.overwrite,
            soft_binding=sealed.soft_binding,
        )
    return Published(sealed.asset_id, sealed.signed, stored)


def _free_watermark_id(ledger: Ledger, reserved: Container[int]) -> int:
    """An id the ledger does not hold and no sealed, uncommitted output holds either."""
    for _ in range(64):
        candidate = ledger.issue_watermark_id()
        if candidate not in reserved:
            return candidate
    raise LedgerError("no free watermark id found in 64 draws; the id space is full")


def _soft_binding_on(settings: Settings) -> bool:
    """Whether outputs get a watermark or fingerprint (`[soft_binding]`)."""
    config = settings.soft_binding
    return config.watermark != "none" or config.fingerprint


@contextmanager
def timed(timings: dict[str, float] | None, stage: str) -> Iterator[None]:
    """Add the wall time of the block to `timings[stage]` (milliseconds), when asked."""
    start = time.perf_counter()
    try:
        yield
    finally:
        if timings is not None:
            timings[stage] = timings.get(stage, 0.0) + (time.perf_counter() - start) * 1000

"""`sign EDITED --parent ORIGINAL --editor NAME`: screen, sign and record a person's work.

Every check that can refuse runs before anything is signed or written: the editor's name,
the actions, both files being images, the parent not being the edited file (nor, through
the ledger, one of its descendants), the parent's credentials (`provenance.credentials.parent`), and
then the policies: the inherited licence terms against the declared use, and the image
screens (output safety, known works) on the edited pixels.  A policy refusal is recorded in
the ledger like any other; bad input writes nothing.  See `provenance.credentials.editing`
for what the manifest says.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from provenance.credentials.editing import (
    DIGITAL_CREATION,
    HUMAN_GENERATOR,
    Ancestor,
    HumanStep,
    ancestors,
    changed_region,
    check_actions,
    check_person_name,
    check_region,
    inherited_card,
    same_file,
    sha256_of,
    source_type,
)
from provenance.credentials.parent import NO_CREDENTIALS, ParentIngredient, parent_ingredient
from provenance.errors import BadInputError, LedgerError
from provenance.imageio import open_image, read_file, sniff_mime
from provenance.ledger import AssetRecord
from provenance.pipeline.policyset import as_screenable
from provenance.pipeline.publish import Publication, SignedFile, publish
from provenance.pipeline.studio import Studio
from provenance.types import GenerationRequest, ModelInfo, new_id
from provenance.verdict import Verdict


@dataclass(frozen=True)
class EditRequest:
    """What the command line says about a person's work."""

    editor: str
    actions: tuple[str, ...] = ()
    tool: str | None = None
    requester: str | None = None
    project: str | None = None
    license: str | None = None
    use: str | None = None
    accept_invalid_parent: bool = False
    #: The rectangle the person says they changed (`--region X,Y,W,H`), instead of the one
    #: found by comparing the two files.
    region: tuple[int, int, int, int] | None = None


@dataclass(frozen=True)
class EditResult(SignedFile):
    """One signed and recorded human step."""

    human: HumanStep
    licence: str
    parent: ParentIngredient | None = None
    parent_asset_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: the object `sign --json` prints for the file."""
        return {
            **self.file_dict(),
            "human": self.human.as_dict(),
            "licence": self.licence,
            "parent": (
                self.parent.credentials.as_dict()
                if self.parent and self.parent.credentials is not NO_CREDENTIALS
                else None
            ),
            "parent_path": str(self.parent.image.path) if self.parent else None,
            "parent_asset_id": self.parent_asset_id,
        }


def sign_human_work(
    studio: Studio, edited: Path, parent: Path | None, spec: EditRequest, out_dir: Path
) -> EditResult:
    """Screen, sign and record `edited` (an edit of `parent`, or a new work if None).

    The parent's side (its credentials, the cycle check, the changed region) runs on a
    worker thread while this one screens the edited pixels: c2pa and onnxruntime release
    the GIL, and the image screens do not depend on the parent.  Every bad-input check
    still decides before any refusal is recorded or anything is signed.
    """
    editor = check_person_name(spec.editor)
    check_actions(spec.actions)  # before any file is read
    if spec.region is not None and parent is None:
        raise BadInputError("--region names what an edit changed: give --parent ORIGINAL too")
    tool = check_person_name(spec.tool, "--tool") if spec.tool else None
    data = read_file(edited)
    mime = sniff_mime(data, edited)
    pixels = open_image(data, str(edited)).convert("RGB")
    _refuse_existing_output(out_dir, edited)
    side: Future[tuple[ParentIngredient | None, list[Ancestor], dict[str, Any]]]
    with ThreadPoolExecutor(max_workers=1) as pool:
        if parent is None:
            side = pool.submit(_new_work, studio, edited, data, mime, editor, tool)
        else:
            side = pool.submit(_parent_side, studio, edited, data, mime, pixels, parent, spec)
        request = _request(studio, spec, inherited_card(()))
        screened = studio.policies.screen_image(as_screenable(pixels, seed=0), request)
        ingredient, history, kind = side.result()
    human = HumanStep(editor, tool, **kind)
    card = inherited_card(history)
    request = replace(request, model_card=card)
    licence_verdict = _screen_licence(studio, request)
    studio.enforce(screened, request, "image", 0, sha256_of(data))
    image = as_screenable(pixels, seed=0, card=card)
    verdicts = (licence_verdict, screened)
    return _sign_and_store(
        studio, edited, data, mime, request, image, verdicts, ingredient, human, out_dir
    )


def _new_work(
    studio: Studio, edited: Path, data: bytes, mime: str, editor: str, tool: str | None
) -> tuple[ParentIngredient | None, list[Ancestor], dict[str, Any]]:
    own, _ = studio.credential_reader.read_store(data, mime)
    if own is not None:
        raise BadInputError(
            f"{edited}: it already carries C2PA credentials ({own.summary()}); give "
            "--parent ORIGINAL for an edit, or sign it without --editor to keep them"
        )
    kind = {"actions": ("c2pa.created",), "source_type": DIGITAL_CREATION, "created": True}
    return None, [], kind


def _parent_side(
    studio: Studio,
    edited: Path,
    data: bytes,
    mime: str,
    pixels: Any,
    parent: Path,
    spec: EditRequest,
) -> tuple[ParentIngredient | None, list[Ancestor], dict[str, Any]]:
    """Read and check the parent; what the edit is, as far as the two files tell."""
    digest = sha256_of(data)
    parent_data = _read_parent(parent, edited, digest)
    parent_mime = sniff_mime(parent_data, parent)
    parent_pixels = open_image(parent_data, f"--parent {parent}")
    parent_digest = sha256_of(parent_data)
    credentials, store = studio.credential_reader.read_store(parent_data, parent_mime)
    if credentials is not None:
        credentials.require_acceptable(parent, spec.accept_invalid_parent)
    _refuse_cycle(studio, edited, digest, parent_digest)
    _refuse_own_credentials(studio, edited, data, mime, credentials)
    ingredient = parent_ingredient(
        parent, parent_data, parent_mime, parent_digest, credentials or NO_CREDENTIALS
    )
    history = ancestors(store)
    actions = check_actions(spec.actions)
    region = (
        check_region(spec.region, pixels.size)
        if spec.region is not None
        else changed_region(parent_pixels, pixels)
    )
    kind = {"actions": actions, "source_type": source_type(actions, history), "region": region}
    return ingredient, history, kind


def _request(studio: Studio, spec: EditRequest, card: ModelInfo) -> GenerationRequest:
    return studio.prepare(
        GenerationRequest(
            prompt="",
            generator=HUMAN_GENERATOR,
            request_id=new_id("hum"),
            requester=spec.requester,
            project=spec.project,
            license=spec.license,
            use=spec.use,
            model_card=card,
        )
    )


def _refuse_existing_output(out_dir: Path, edited: Path) -> None:
    """Decided before any work: the signed copy never replaces a file."""
    target = Path(out_dir) / edited.name
    if target.exists() or target.is_symlink():
        raise BadInputError(f"{target}: already exists; refusing to overwrite it")


def _read_parent(parent: Path, edited: Path, edited_digest: str) -> bytes:
    if same_file(parent, edited):
        raise BadInputError(f"--parent {parent}: is the edited file itself")
    data = read_file(parent)
    try:
        sniff_mime(data, parent)
    except BadInputError as exc:
        raise BadInputError(f"--parent {exc}") from exc
    if sha256_of(data) == edited_digest:
        raise BadInputError(
            f"--parent {parent}: has the same bytes as {edited}; an edit must differ from "
            "its parent"
        )
    return data


def _refuse_own_credentials(
    studio: Studio, edited: Path, data: bytes, mime: str, parent: Any
) -> None:
    """An edited file with credentials of its own that are not its parent's would lose them."""
    own, _ = studio.credential_reader.read_store(data, mime)
    if own is None or (parent is not None and own.active_manifest == parent.active_manifest):
        return
    raise BadInputError(
        f"{edited}: it carries C2PA credentials of its own ({own.summary()}) that are not "
        "the parent's; signing it as an edit would drop them"
    )


def _refuse_cycle(studio: Studio, edited: Path, digest: str, parent_digest: str) -> None:
    """Refuse an edit whose file the ledger already records as an ancestor of its parent."""
    from provenance.credentials.lineage import ledger_ancestry_hashes

    if digest in ledger_ancestry_hashes(studio.ledger, parent_digest):
        raise BadInputError(
            f"{edited}: the ledger records this file as an ancestor of its --parent; "
            "signing it as the parent's edit would make a cycle"
        )


def record_of(entry: Any) -> AssetRecord:
    """The asset record of a stored entry (an asset commit always stores one)."""
    record = entry.record
    if not isinstance(record, AssetRecord):
        raise LedgerError(f"entry {entry.id} is not an asset")
    return record


def _screen_licence(studio: Studio, request: GenerationRequest) -> Verdict:
    """The licence terms inherited from the parent's models, against the declared use."""
    checks = [
        p.screen_prompt(request) for p in studio.policies.policies if p.name == "model_license"
    ]
    verdict = Verdict.combine(checks)
    studio.enforce(verdict, request, "prompt", None, None)
    return verdict


def _sign_and_store(
    studio: Studio,
    edited: Path,
    data: bytes,
    mime: str,
    request: GenerationRequest,
    image: Any,
    verdicts: tuple[Verdict, Verdict],
    parent: ParentIngredient | None,
    human: HumanStep,
    out_dir: Path,
) -> EditResult:
    parent_record = parent.ledger_record() if parent else None
    if parent_record is not None and parent_record.manifest_label is None:
        parent_record = replace(parent_record, validation_state=None)
    published = publish(
        studio,
        Publication(
            request=request,
            image=image,
            data=data,
            mime=mime,
            verdicts=verdicts,
            attributions=[a for v in verdicts for a in v.attributions],
            out_dir=out_dir,
            filename=edited.name,
            seed=None,
            params={"source_file": edited.name, **human.as_dict()},
            ingredients=(parent.image,) if parent else (),
            ledger_ingredients=(parent_record,) if parent_record else (),
            edits=human.edit_steps(),
            parent=parent.credentials if parent and parent.credentials.manifests else None,
            generator=HUMAN_GENERATOR,
            origin="human" if human.created else "edited",
            contributors=(human.contributor(),),
        ),
    )
    asset_id, signed, stored = published.asset_id, published.signed, published.stored
    links = [i.source_asset_id for i in record_of(stored.entry).ingredients]
    return EditResult(
        edited,
        stored.path,
        asset_id,
        signed.sha256,
        signed.manifest_label,
        verdicts[1],
        human,
        image.model_info.license,
        parent,
        links[0] if links else None,
    )

"""What the ledger records: plain frozen dataclasses the pipeline builds and the ledger returns.

Records are normalised when they are made (timestamps to UTC, JSON fields to plain JSON
values, sequences to tuples), so a record read back from either engine compares equal to
the one that was appended, and a record that cannot be stored fails here, before anything
is written, with a message naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from provenance.ledger._validate import (
    check_id,
    check_int,
    check_sha256,
    check_text,
    check_texts,
    fail,
    finite,
    plain_json,
    set_field,
    typed_items,
)
from provenance.ledger.values import to_utc

if TYPE_CHECKING:
    from provenance.types import Attribution, InputImage
    from provenance.verdict import Reason, Verdict

EntryKind = Literal["asset", "refusal"]
STAGES = ("prompt", "image", "input")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class DecisionRecord:
    """One policy reason: which stage, policy and rule, what it decided, and its score."""

    stage: str
    policy: str
    rule: str
    action: str
    score: float
    threshold: float | None = None
    category: str | None = None
    detail: str | None = None
    span: str | None = None
    work_id: str | None = None
    work_title: str | None = None

    def __post_init__(self) -> None:
        where = f"policy decision {self.policy}/{self.rule}"
        if self.stage not in STAGES:
            raise fail(where, f"stage must be one of {', '.join(STAGES)}, got {self.stage!r}")
        check_text(where, "policy", self.policy, optional=False)
        check_text(where, "rule", self.rule, optional=False)
        check_text(where, "action", self.action, optional=False)
        check_texts(self, where, ("category", "detail", "span", "work_id", "work_title"))
        set_field(self, "score", finite(where, "score", self.score))
        set_field(self, "threshold", finite(where, "threshold", self.threshold, optional=True))

    @classmethod
    def from_reason(cls, reason: Reason, stage: str) -> DecisionRecord:
        """The ledger form of one `provenance.verdict.Reason` seen at `stage`."""
        return cls(
            stage=stage,
            policy=reason.policy,
            rule=reason.rule,
            action=reason.action.value,
            score=reason.score,
            threshold=reason.threshold,
            category=reason.category,
            detail=reason.detail or None,
            span=reason.span,
            work_id=reason.work_id,
            work_title=reason.work_title,
        )


def decisions_from_verdict(verdict: Verdict, stage: str) -> tuple[DecisionRecord, ...]:
    """Every reason of `verdict`, plus one `disabled` row per policy layer that could not run.

    A disabled layer is recorded (action `warn`, score 0) so an auditor sees that an output
    was not screened by it, not just that it passed.
    """
    rows = [DecisionRecord.from_reason(reason, stage) for reason in verdict.reasons]
    for layer in verdict.disabled:
        policy = layer.split("/", 1)[0].split(":", 1)[0].strip() or layer
        rows.append(
            DecisionRecord(
                stage=stage, policy=policy, rule="disabled", action="warn", score=0.0, detail=layer
            )
        )
    return tuple(rows)


@dataclass(frozen=True, kw_only=True)
class AttributionRecord:
    """A known work credited on an asset: id, title, creator, licence, similarity, method."""

    work_id: str
    title: str
    creator: str | None
    license: str | None
    similarity: float
    method: str

    def __post_init__(self) -> None:
        where = f"attribution {self.work_id!r}"
        for name in ("work_id", "title", "method"):
            check_text(where, name, getattr(self, name), optional=False)
        check_texts(self, where, ("creator", "license"))
        set_field(self, "similarity", finite(where, "similarity", self.similarity))

    @classmethod
    def from_attribution(cls, attribution: Attribution) -> AttributionRecord:
        """The ledger form of a `provenance.types.Attribution`."""
        return cls(
            work_id=attribution.work_id,
            title=attribution.title,
            creator=attribution.creator or None,
            license=attribution.license or None,
            similarity=attribution.score,
            method=attribution.method,
        )


@dataclass(frozen=True, kw_only=True)
class IngredientRecord:
    """An input image used to make an asset (C2PA ingredient): digest, relationship, title."""

    sha256: str
    relationship: str
    title: str | None = None
    mime: str | None = None
    manifest_label: str | None = None
    validation_state: str | None = None
    #: The ledger asset this ingredient is, when the ledger holds it (lineage links).
    source_asset_id: str | None = None

    def __post_init__(self) -> None:
        where = f"ingredient {self.title!r}"
        check_sha256(where, "sha256", self.sha256)
        check_text(where, "relationship", self.relationship, optional=False)
        fields_ = ("title", "mime", "manifest_label", "validation_state", "source_asset_id")
        check_texts(self, where, fields_)

    @classmethod
    def from_input_image(
        cls,
        image: InputImage,
        manifest_label: str | None = None,
        validation_state: str | None = None,
    ) -> IngredientRecord:
        """The ledger form of a `provenance.types.InputImage` (and its credentials, if any)."""
        return cls(
            sha256=image.sha256,
            relationship=image.relationship,
            title=image.title,
            mime=image.format,
            manifest_label=manifest_label,
            validation_state=validation_state,
        )


@dataclass(frozen=True, kw_only=True)
class AssetRecord:
    """Everything the ledger keeps about one signed output.

    `path` is the output's final absolute path (`AssetStore.commit` fills it in);
    `prompt` is None when only `prompt_hash` (a salted hash) is kept.  `model_name`
    defaults to the model card's `name`.  `degraded_layers` maps each policy layer that was
    bypassed by `[policies] degraded` to why it could not run (None: a row from before
    bypasses were recorded).
    """

    asset_id: str
    request_id: str
    image_index: int
    sha256: str
    path: str
    mime: str
    generator: str
    model: Mapping[str, Any]
    seed: int | None
    prompt: str | None
    prompt_hash: str | None = None
    negative_prompt: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    manifest_label: str | None = None
    requester: str | None = None
    project: str | None = None
    use: str | None = None
    license: str | None = None
    signer_fingerprint: str | None = None
    model_name: str | None = None
    decisions: Sequence[DecisionRecord] = ()
    attributions: Sequence[AttributionRecord] = ()
    ingredients: Sequence[IngredientRecord] = ()
    degraded_layers: Mapping[str, str] | None = None
    #: People who made or edited the image ([{role, name, tool}]; None: none recorded).
    contributors: Sequence[Mapping[str, Any]] | None = None
    created_at: datetime = field(default_factory=_now)

    def __post_init__(self) -> None:
        where = f"asset {self.asset_id!r}"
        if self.contributors is not None:
            people = plain_json(where, "contributors", {"items": list(self.contributors)})
            set_field(self, "contributors", people["items"] or None)
        check_id(where, "asset_id", self.asset_id)
        check_id(where, "request_id", self.request_id)
        check_id(where, "generator", self.generator)
        check_int(where, "image_index", self.image_index)
        check_int(where, "seed", self.seed, optional=True)
        check_sha256(where, "sha256", self.sha256)
        check_text(where, "path", self.path, optional=False)
        check_text(where, "mime", self.mime, optional=False)
        texts = ("prompt", "prompt_hash", "negative_prompt", "manifest_label", "requester")
        check_texts(self, where, (*texts, "project", "use", "license", "signer_fingerprint"))
        set_field(self, "model", plain_json(where, "model", self.model))
        set_field(self, "params", plain_json(where, "params", self.params))
        if self.model_name is None and isinstance(self.model.get("name"), str):
            set_field(self, "model_name", self.model["name"])
        check_text(where, "model_name", self.model_name)
        _normalise_common(self, where)
        set_field(self, "attributions", typed_items(where, self.attributions, AttributionRecord))
        set_field(self, "ingredients", typed_items(where, self.ingredients, IngredientRecord))

    @property
    def id(self) -> str:
        """The entry id (the asset id)."""
        return self.asset_id


@dataclass(frozen=True, kw_only=True)
class RefusalRecord:
    """A request refused by policy at `stage` (prompt, image or input): nothing was signed.

    `image_index` names the refused image for image-stage refusals; `image_sha256` is the
    digest of the refused pixels' encoding when there was an image.
    """

    refusal_id: str
    request_id: str
    stage: str
    action: str
    prompt: str | None
    prompt_hash: str | None = None
    generator: str | None = None
    model_name: str | None = None
    image_sha256: str | None = None
    image_index: int | None = None
    requester: str | None = None
    project: str | None = None
    use: str | None = None
    license: str | None = None
    decisions: Sequence[DecisionRecord] = ()
    degraded_layers: Mapping[str, str] | None = None
    created_at: datetime = field(default_factory=_now)

    def __post_init__(self) -> None:
        where = f"refusal {self.refusal_id!r}"
        check_id(where, "refusal_id", self.refusal_id)
        check_id(where, "request_id", self.request_id)
        if self.stage not in STAGES:
            raise fail(where, f"stage must be one of {', '.join(STAGES)}, got {self.stage!r}")
        if self.generator is not None:
            check_id(where, "generator", self.generator)
        check_text(where, "action", self.action, optional=False)
        check_sha256(where, "image_sha256", self.image_sha256, optional=True)
        check_int(where, "image_index", self.image_index, optional=True)
        texts = ("prompt", "prompt_hash", "model_name", "requester", "project", "use", "license")
        check_texts(self, where, texts)
        _normalise_common(self, where)

    @property
    def id(self) -> str:
        """The entry id (the refusal id)."""
        return self.refusal_id


def _normalise_common(record: AssetRecord | RefusalRecord, where: str) -> None:
    """Decisions to a tuple, `degraded_layers` to plain text, `created_at` to aware UTC."""
    set_field(record, "decisions", typed_items(where, record.decisions, DecisionRecord))
    if record.degraded_layers is not None:
        layers = plain_json(where, "degraded_layers", record.degraded_layers)
        if not all(isinstance(v, str) for v in layers.values()):
            raise fail(where, "degraded_layers must map layer names to text")
        set_field(record, "degraded_layers", layers)
    if not isinstance(record.created_at, datetime):
        raise fail(where, f"created_at must be a datetime, got {record.created_at!r}")
    set_field(record, "created_at", to_utc(record.created_at))


LedgerRecord = AssetRecord | RefusalRecord


@dataclass(frozen=True)
class LedgerEntry:
    """A record as the chain holds it: its kind, id, position, and the hashes that link it."""

    kind: EntryKind
    id: str
    seq: int
    prev_hash: str
    row_hash: str
    record: LedgerRecord

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (`--json` output, exports)."""
        body = {f.name: getattr(self.record, f.name) for f in fields(self.record)}
        body["created_at"] = self.record.created_at.isoformat()
        for key in ("decisions", "attributions", "ingredients"):
            if key in body:
                body[key] = [
                    {f.name: getattr(item, f.name) for f in fields(item)} for item in body[key]
                ]
        return {
            "kind": self.kind,
            "id": self.id,
            "seq": self.seq,
            "prev_hash": self.prev_hash,
            "row_hash": self.row_hash,
            "record": body,
        }


@dataclass(frozen=True)
class RequestState:
    """How far a request got: which image indices are recorded, and whether it was refused.

    A resumed batch skips `done_indices` and does not retry a refused request.
    """

    request_id: str
    done_indices: frozenset[int]
    refused: bool
    refusal_stage: str | None = None
    refused_indices: frozenset[int] = frozenset()

    def is_done(self, index: int) -> bool:
        """Whether image `index` of this request is already recorded or was refused."""
        return index in self.done_indices or index in self.refused_indices

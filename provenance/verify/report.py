"""What verifying one file found: the credential state, who signed, what the claims say.

Reports are plain frozen dataclasses (picklable, so worker processes can return them) with
one JSON form (`to_dict`, the `--json` output) that scripts rely on.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provenance.errors import EXIT_ERROR, EXIT_OK, EXIT_RECOVERED, EXIT_VERIFICATION_FAILED


class State(enum.Enum):
    """The credential state of a file, from best to worst."""

    TRUSTED = "trusted"  # c2pa validation state "Trusted": valid and chains to our anchors
    VALID_UNTRUSTED = "valid_untrusted"  # signature valid, signer not trusted
    INVALID = "invalid"  # credentials present but failing validation
    NO_CREDENTIALS = "no_credentials"  # no C2PA manifest in the file
    UNREADABLE = "unreadable"  # not a readable PNG/JPEG/WebP at all
    ERROR = "error"  # something went wrong while reading this file (the reason says what)


#: States that are a failed verification (exit 4) rather than an error (exit 1).
FAILED_STATES = frozenset({State.VALID_UNTRUSTED, State.INVALID, State.NO_CREDENTIALS})


@dataclass(frozen=True)
class ValidationCode:
    """One C2PA validation status entry (`assertion.dataHash.mismatch`, ...)."""

    code: str
    explanation: str = ""
    url: str = ""

    def as_dict(self) -> dict[str, str]:
        """JSON-ready form."""
        return {"code": self.code, "explanation": self.explanation, "url": self.url}


@dataclass(frozen=True)
class Validation:
    """The validation results of one manifest: failures decide, the rest informs."""

    failure: tuple[ValidationCode, ...] = ()
    success: tuple[ValidationCode, ...] = ()
    informational: tuple[ValidationCode, ...] = ()

    @property
    def failure_codes(self) -> list[str]:
        """Just the failure codes, for messages and tests."""
        return [c.code for c in self.failure]

    def as_dict(self) -> dict[str, list[dict[str, str]]]:
        """JSON-ready form."""
        return {
            "failure": [c.as_dict() for c in self.failure],
            "success": [c.as_dict() for c in self.success],
            "informational": [c.as_dict() for c in self.informational],
        }


#: `LedgerMatch.status` values (see `provenance.verify.ledger_match`).
RECORDED, DIFFERENT_BYTES, NOT_RECORDED = "recorded", "different_bytes", "not_recorded"


@dataclass(frozen=True)
class LedgerMatch:
    """What the ledger says about a file: recorded? same bytes? chain intact at its row?

    `found` with `hash_match`: these exact bytes are a recorded asset.  `found` without it:
    the credentials name a recorded asset (`matched_by` its manifest label or asset id) but
    the bytes differ from the recorded ones (`recorded_sha256`).
    """

    found: bool
    asset_id: str | None = None
    hash_match: bool = False
    chain_ok: bool = False
    detail: str = ""
    matched_by: str | None = None  # "sha256", "manifest_label" or "asset_id"
    recorded_sha256: str | None = None

    @property
    def ok(self) -> bool:
        """Recorded, byte-identical and with an intact hash chain."""
        return self.found and self.hash_match and self.chain_ok

    @property
    def status(self) -> str:
        """`recorded`, `different_bytes` or `not_recorded`."""
        if not self.found:
            return NOT_RECORDED
        return RECORDED if self.hash_match else DIFFERENT_BYTES

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "status": self.status,
            "found": self.found,
            "asset_id": self.asset_id,
            "hash_match": self.hash_match,
            "chain_ok": self.chain_ok,
            "ok": self.ok,
            "matched_by": self.matched_by,
            "recorded_sha256": self.recorded_sha256,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class SignerInfo:
    """The signing certificate as the manifest's signature presents it."""

    subject: str
    issuer: str
    common_name: str = ""
    serial: str = ""
    not_before: str | None = None
    not_after: str | None = None
    algorithm: str | None = None
    signed_at: str | None = None  # from a trusted timestamp, when there is one

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class IngredientReport:
    """An ingredient of the active manifest and how its own credentials validated."""

    title: str
    relationship: str
    format: str | None = None
    sha256: str | None = None
    manifest_label: str | None = None
    validation: Validation = field(default_factory=Validation)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "title": self.title,
            "relationship": self.relationship,
            "format": self.format,
            "sha256": self.sha256,
            "manifest_label": self.manifest_label,
            "validation": self.validation.as_dict(),
        }


@dataclass(frozen=True)
class IdentityReport:
    """A CAWG identity assertion of the active manifest: a named actor apart from the signer.

    `trust` is the identity credential's own verdict: `trusted`, `untrusted`, `invalid`
    (its signature or binding failed) or `unverified` (c2pa reported nothing either way);
    `trusted_by` says who decided a `trusted` (c2pa, or a configured CAWG anchor).
    """

    label: str
    sig_type: str
    trust: str
    subject: str = ""
    trusted_by: str | None = None
    referenced_assertions: tuple[str, ...] = ()
    validation: Validation = field(default_factory=Validation)
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "label": self.label,
            "sig_type": self.sig_type,
            "trust": self.trust,
            "subject": self.subject,
            "trusted_by": self.trusted_by,
            "referenced_assertions": list(self.referenced_assertions),
            "validation": self.validation.as_dict(),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class VerificationReport:
    """Everything `verify` learnt about one file; `ok` only for trusted (and ledger-matching)."""

    path: Path
    state: State
    reason: str
    mime: str | None = None
    sha256: str | None = None
    validation_state: str | None = None
    validation: Validation = field(default_factory=Validation)
    manifest_label: str | None = None
    title: str | None = None
    signer: SignerInfo | None = None
    claim_generator: str | None = None
    actions: tuple[str, ...] = ()
    digital_source_type: str | None = None
    #: True when the asset or any ingredient in its history declares generative AI.
    ai_generated: bool = False
    #: Why (`AI-generated (trainedAlgorithmicMedia)`, `contains AI-generated ingredient ...`).
    ai_disclosure: str | None = None
    generation: dict[str, Any] | None = None
    policy: dict[str, Any] | None = None
    attributions: tuple[dict[str, Any], ...] = ()
    training_mining: dict[str, Any] | None = None
    ingredients: tuple[IngredientReport, ...] = ()
    ledger: LedgerMatch | None = None
    ledger_error: str | None = None
    #: The claim signer's own trust (`trusted`, `untrusted`, `invalid`), apart from identities.
    signer_trust: str | None = None
    identities: tuple[IdentityReport, ...] = ()
    #: Filled only when details were asked for (`--tree`, `--certs`, `--detailed`).
    certificate_chain: tuple[dict[str, Any], ...] = ()
    manifest_store: dict[str, Any] | None = None
    detailed: dict[str, Any] | None = None
    #: The ledger record found by watermark or fingerprint (`provenance.softbinding.recovery`)
    #: for a file without trusted credentials; it never changes `state` or `ok`.
    recovery: dict[str, Any] | None = None

    @property
    def recovered(self) -> bool:
        """Credentials failed or absent, yet the ledger record was found from the pixels."""
        return self.state in FAILED_STATES and self.recovery is not None

    @property
    def ok(self) -> bool:
        """Trusted credentials, and a ledger match when the ledger was checked."""
        if self.state is not State.TRUSTED or self.ledger_error:
            return False
        return self.ledger is None or self.ledger.ok

    @property
    def failed_verification(self) -> bool:
        """Credentials or ledger checked and found wanting (exit 4, not an error)."""
        if self.state in FAILED_STATES:
            return True
        return self.state is State.TRUSTED and self.ledger is not None and not self.ledger.ok

    @property
    def generator(self) -> str | None:
        """The generator named in `org.provenant.generation` (None unless it is text)."""
        value = (self.generation or {}).get("generator")
        return value if isinstance(value, str) else None

    @property
    def model(self) -> dict[str, Any] | None:
        """The model card named in `org.provenant.generation` (None unless it is a table)."""
        value = (self.generation or {}).get("model")
        return value if isinstance(value, dict) else None

    @property
    def seed(self) -> int | None:
        """The seed named in `org.provenant.generation` (None unless it is an integer)."""
        value = (self.generation or {}).get("seed")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def to_dict(self) -> dict[str, Any]:
        """The `--json` form: one flat object per file, stable field names."""
        out: dict[str, Any] = {
            "path": str(self.path),
            "state": self.state.value,
            "ok": self.ok,
            "reason": self.reason,
            "format": self.mime,
            "sha256": self.sha256,
            "validation_state": self.validation_state,
            "validation": self.validation.as_dict(),
            "manifest_label": self.manifest_label,
            "title": self.title,
            "signer": self.signer.as_dict() if self.signer else None,
            "signer_trust": self.signer_trust,
            "identities": [i.as_dict() for i in self.identities],
            "claim_generator": self.claim_generator,
            "actions": list(self.actions),
            "digital_source_type": self.digital_source_type,
            "ai_generated": self.ai_generated,
            "ai_disclosure": self.ai_disclosure,
            "generator": self.generator,
            "model": self.model,
            "seed": self.seed,
            "generation": self.generation,
            "policy": self.policy,
            "attributions": list(self.attributions),
            "training_mining": self.training_mining,
            "ingredients": [i.as_dict() for i in self.ingredients],
            "ledger": self.ledger.as_dict() if self.ledger else None,
            "ledger_error": self.ledger_error,
            "recovered": self.recovered,
            "recovery": self.recovery,
        }
        if self.certificate_chain:
            out["certificate_chain"] = list(self.certificate_chain)
        if self.manifest_store is not None:
            from provenance.credentials.lineage import credentials_lineage

            out["manifest_store"] = self.manifest_store
            out["lineage"] = credentials_lineage(self.manifest_store, self.path.name).as_dict()
        if self.detailed is not None:
            out["detailed"] = self.detailed
        return out


def exit_code(reports: list[VerificationReport]) -> int:
    """0 when every file is ok; 4 when any failed verification and was not recovered; 5 when
    the only failures are files recovered from the ledger; 1 when only errors remain."""
    if any(r.failed_verification and not r.recovered for r in reports):
        return EXIT_VERIFICATION_FAILED
    if any(r.recovered for r in reports):
        return EXIT_RECOVERED
    if all(r.ok for r in reports):
        return EXIT_OK
    return EXIT_ERROR

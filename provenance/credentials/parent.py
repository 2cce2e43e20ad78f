"""The credentials a file already carries, when Provenant makes a new manifest from it.

`provenant sign` on a file with C2PA credentials must not throw that history away and
re-issue the file under the studio's key as if it were new.  Instead the file becomes the
`parentOf` ingredient of the new manifest: c2pa's `Builder.add_ingredient` copies its
manifest store into the output and records the parent's active manifest and validation
results in the ingredient assertion, and the new claim's first action is `c2pa.opened`.

This module decides what may be a parent, with c2pa's own `Reader` and the studio's trust
settings (`[trust] anchors`, allowed certificates), before anything is signed:

* no manifest store: not a parent (the file is signed as made elsewhere, as before);
* `Trusted` or `Valid` (a signer outside the studio's anchors is still valid): accepted;
  the ingredient records c2pa's verdict, `signingCredential.untrusted` included;
* `Invalid`: refused with `InvalidParentError` unless the caller accepts invalid parents,
  and then the ingredient records the failure;
* a store c2pa cannot read at all: refused always (c2pa cannot carry it as an ingredient,
  and signing over it would drop it).

`sign --parent` (a human edit of another file) builds on the same pieces: `CredentialReader`
to read the original, `ParentCredentials` to decide and record, `parent_ingredient` for the
ingredient.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.credentials.trust import TRUSTED_STATE, read_pem_bundle, verification_settings
from provenance.errors import BadInputError, ConfigError, translate_errors
from provenance.types import InputImage

if TYPE_CHECKING:
    import c2pa

    from provenance.config import Settings
    from provenance.ledger.records import IngredientRecord

VALID_STATE = "Valid"
INVALID_STATE = "Invalid"
#: Our name for a manifest store that c2pa found but could not read or check.
UNREADABLE_STATE = "Unreadable"
UNTRUSTED_CODE = "signingCredential.untrusted"


class InvalidParentError(BadInputError):
    """The file's own credentials fail validation, and invalid parents were not accepted."""


@dataclass(frozen=True)
class ParentCredentials:
    """What c2pa says about the manifest store a file carries.

    `state` is c2pa's validation state (Trusted, Valid, Invalid) or `Unreadable`;
    `failures` are the failure codes of the active manifest (for example
    `assertion.dataHash.mismatch` when the pixels changed after signing).
    """

    active_manifest: str | None
    state: str
    failures: tuple[str, ...] = ()
    manifests: int = 0
    detail: str = ""

    @property
    def valid(self) -> bool:
        """Whether the credentials validate (a signer we do not trust still validates)."""
        return self.state in (TRUSTED_STATE, VALID_STATE)

    def summary(self) -> str:
        """One phrase for people: `urn:c2pa:... (Valid: signingCredential.untrusted)`."""
        label = self.active_manifest or "an unreadable manifest store"
        why = ", ".join(self.failures) or self.detail
        return f"{label} ({self.state}{': ' + why if why else ''})"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (`sign --json`, the generation assertion)."""
        out: dict[str, Any] = {
            "manifest_label": self.active_manifest,
            "validation_state": self.state,
            "failures": list(self.failures),
            "manifests": self.manifests,
        }
        if self.detail:
            out["detail"] = self.detail
        return out

    def require_acceptable(self, source: Path | str, accept_invalid: bool) -> None:
        """Refuse a parent whose credentials fail validation, unless `accept_invalid`.

        A store that c2pa cannot read at all is refused either way: c2pa cannot carry it
        as an ingredient, and signing over it would drop it.
        """
        if self.state == UNREADABLE_STATE:
            raise InvalidParentError(
                f"{source}: it carries a C2PA manifest store that cannot be read "
                f"({self.detail}); it cannot be kept as a parent, so it is not signed"
            )
        if self.valid or accept_invalid:
            return
        raise InvalidParentError(
            f"{source}: its C2PA credentials fail validation ({self.summary()}); signing it "
            "would pass them on as a parent. Give --accept-invalid-parent to sign it anyway "
            "(the new manifest records the failure)"
        )


#: What a parent without any manifest store is recorded as (no label, no state).
NO_CREDENTIALS = ParentCredentials(active_manifest=None, state="None")


def from_store(store: Mapping[str, Any]) -> ParentCredentials:
    """Credentials from c2pa's manifest store JSON (`Reader.json()`)."""
    results = store.get("validation_results") or {}
    active = results.get("activeManifest") or {}
    failures = [str(item.get("code")) for item in active.get("failure") or () if item.get("code")]
    if not active:
        failures = [str(s.get("code")) for s in store.get("validation_status") or () if s]
    state = store.get("validation_state")
    if state not in (TRUSTED_STATE, VALID_STATE, INVALID_STATE):
        state = INVALID_STATE if any(c != UNTRUSTED_CODE for c in failures) else VALID_STATE
    label = store.get("active_manifest")
    return ParentCredentials(
        active_manifest=str(label) if label else None,
        state=str(state),
        failures=tuple(dict.fromkeys(failures)),
        manifests=len(store.get("manifests") or {}),
    )


def studio_trust_settings(settings: Settings) -> dict[str, Any]:
    """c2pa trust and verify settings from `[trust]`: who the studio trusts, fetches off."""
    anchors = read_pem_bundle(settings.trust.anchors, "trust anchor")
    allowed = read_pem_bundle(settings.trust.allowed_certificates, "allowed certificate")
    return verification_settings(
        anchors,
        allowed,
        fetch_remote_manifests=settings.trust.fetch_remote_manifests,
        ocsp_fetch=settings.trust.ocsp_fetch,
    )


class CredentialReader:
    """Reads the credentials files already carry, with one c2pa context for many files."""

    def __init__(self, c2pa_settings: Mapping[str, Any]) -> None:
        import c2pa

        with translate_errors("trust settings", override=ConfigError):
            self._context: c2pa.Context = c2pa.Context.from_dict(dict(c2pa_settings))

    @classmethod
    def from_settings(cls, settings: Settings) -> CredentialReader:
        """A reader trusting what `[trust]` trusts (anchor files are checked here)."""
        return cls(studio_trust_settings(settings))

    def read(self, data: bytes, mime: str) -> ParentCredentials | None:
        """The credentials in `data`, or None when it carries no manifest store."""
        return self.read_store(data, mime)[0]

    def read_store(self, data: bytes, mime: str) -> tuple[ParentCredentials | None, dict[str, Any]]:
        """The credentials in `data` and c2pa's manifest store JSON ({} when none is read)."""
        import c2pa

        try:
            with c2pa.Reader(mime, io.BytesIO(data), context=self._context) as reader:
                store = json.loads(reader.json())
        except c2pa.C2paError.ManifestNotFound:
            return None, {}
        except c2pa.C2paError as exc:
            detail = " ".join(str(exc).split())[:300] or type(exc).__name__
            return ParentCredentials(None, UNREADABLE_STATE, detail=detail), {}
        return from_store(store), store

    def close(self) -> None:
        """Release the native c2pa context."""
        self._context.close()

    def __enter__(self) -> CredentialReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class ParentIngredient:
    """A file as the `parentOf` ingredient of a new manifest, with its own credentials."""

    image: InputImage
    credentials: ParentCredentials

    def ledger_record(self) -> IngredientRecord:
        """The ledger's ingredient row: digest, relationship, and the parent's manifest."""
        from provenance.ledger.records import IngredientRecord

        return IngredientRecord.from_input_image(
            self.image,
            manifest_label=self.credentials.active_manifest,
            validation_state=self.credentials.state,
        )


def parent_ingredient(
    path: Path, data: bytes, mime: str, sha256: str, credentials: ParentCredentials
) -> ParentIngredient:
    """`data` (the bytes of `path`) as the parent of the manifest about to be signed."""
    image = InputImage(
        path=path, relationship="parentOf", sha256=sha256, format=mime, title=path.name
    )
    return ParentIngredient(image, credentials)

"""CAWG identity assertions: the named actors of a manifest, trusted apart from its signer.

A manifest's claim signer (the tool or studio whose certificate signs the claim) and the
actors named in its `cawg.identity` assertions (a person or organisation binding itself to
some of the assertions with its own credential: an X.509 certificate, `cawg.x509.cose`, or
an identity-claims aggregator) are different parties with different trust lists: C2PA
anchors for claim signers, CAWG anchors (S/MIME and document-signing CAs) for identities.
c2pa reports both under one validation state, so a file whose claim signer is trusted but
whose identity credential is not reads `Valid`, and a report that said only "signer not
trusted" would blame the wrong party.  This module splits them: the claim signer's own
trust (`signer_trust`) and, per identity assertion, its trust and the codes c2pa reported
against its URL (`.../c2pa.assertions/cawg.identity`).

The verification state stays c2pa's, with one exception: when the configured CAWG anchors
vouch for every identity credential c2pa called untrusted (see `cawg_chain`: c2pa 0.91.3
ignores `cawg_trust` anchors while reading) and nothing else failed, the file is trusted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from provenance.verify.cawg_chain import ChainProblem, anchoring_subject, credential_chain
from provenance.verify.report import (
    IdentityReport,
    State,
    Validation,
    ValidationCode,
    VerificationReport,
)

if TYPE_CHECKING:
    from cryptography import x509

IDENTITY_LABEL = "cawg.identity"
X509_SIG_TYPE = "cawg.x509.cose"
SIGNER_TRUSTED = "signingCredential.trusted"
SIGNER_UNTRUSTED = "signingCredential.untrusted"
#: c2pa 0.91 reports an X.509 identity credential's trust with the CAWG 1.3 codes; earlier
#: releases reused the claim signer's codes on the identity assertion's URL.
IDENTITY_TRUSTED = frozenset({"cawg.x509.credential.trusted", SIGNER_TRUSTED})
IDENTITY_UNTRUSTED = frozenset({"cawg.x509.credential.untrusted", SIGNER_UNTRUSTED})
#: The codes by which c2pa says it checked an identity's signature with its credential.
IDENTITY_SIGNATURE_VALID = frozenset({"cawg.x509.signature.validated", "claimSignature.validated"})
_CLAIM_PREFIXES = ("signingCredential.", "claimSignature.")


def is_identity_label(label: str) -> bool:
    """`cawg.identity`, or a later instance of it (`cawg.identity__1`)."""
    return label == IDENTITY_LABEL or label.startswith(IDENTITY_LABEL + "__")


def _is_identity_url(url: str) -> bool:
    return f"/c2pa.assertions/{IDENTITY_LABEL}" in url


def read_identities(
    store: Mapping[str, Any],
    detailed_json: Callable[[], str],
    anchors: Sequence[x509.Certificate] = (),
) -> tuple[IdentityReport, ...]:
    """The identity assertions of the active manifest in c2pa's manifest-store JSON.

    `detailed_json` (c2pa's `Reader.detailed_json`) is called only when CAWG anchors are
    configured and c2pa called an X.509 identity credential untrusted.
    """
    label = store.get("active_manifest")
    manifests = store.get("manifests")
    manifest = manifests.get(label) if isinstance(manifests, dict) else None
    if not isinstance(label, str) or not isinstance(manifest, dict):
        return ()
    results = _dict(_dict(store.get("validation_results")).get("activeManifest"))
    out = []
    for assertion in _list(manifest.get("assertions")):
        if not isinstance(assertion, dict) or not is_identity_label(str(assertion.get("label"))):
            continue
        identity = _identity(str(assertion["label"]), assertion.get("data"), results)
        if identity.trust == "untrusted" and anchors and identity.sig_type == X509_SIG_TYPE:
            identity = _decide_with_anchors(identity, label, detailed_json, anchors)
        out.append(identity)
    return tuple(out)


def _identity(label: str, data: Any, results: Mapping[str, Any]) -> IdentityReport:
    data = _dict(data)  # the signer wrote it: any shape is read without failing
    payload = _dict(data.get("signer_payload"))
    referenced = tuple(
        str(ref.get("url", "")).removeprefix("self#jumbf=").removeprefix("c2pa.assertions/")
        for ref in _list(payload.get("referenced_assertions"))
        if isinstance(ref, dict)
    )
    validation = _validation_for(results, f"/c2pa.assertions/{label}")
    trust = _trust(validation)
    return IdentityReport(
        label=label,
        sig_type=str(payload.get("sig_type", "")),
        trust=trust,
        subject=_subject(data.get("signature_info")),
        trusted_by="c2pa" if trust == "trusted" else None,
        referenced_assertions=referenced,
        validation=validation,
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _validation_for(results: Mapping[str, Any], url_suffix: str) -> Validation:
    def pick(kind: str) -> tuple[ValidationCode, ...]:
        return tuple(
            ValidationCode(str(e.get("code", "")), str(e.get("explanation", "")), str(e["url"]))
            for e in _list(results.get(kind))
            if isinstance(e, dict) and str(e.get("url", "")).endswith(url_suffix)
        )

    return Validation(pick("failure"), pick("success"), pick("informational"))


def _trust(validation: Validation) -> str:
    failures = set(validation.failure_codes)
    if failures - IDENTITY_UNTRUSTED:
        return "invalid"
    if failures:
        return "untrusted"
    if IDENTITY_TRUSTED & {c.code for c in validation.success}:
        return "trusted"
    return "unverified"


def _subject(info: Any) -> str:
    """c2pa's summary of the credential: its common name and organisation (`issuer`)."""
    if not isinstance(info, dict):
        return ""
    parts = [("CN", info.get("common_name")), ("O", info.get("issuer"))]
    return ",".join(f"{key}={value}" for key, value in parts if value)


def _decide_with_anchors(
    identity: IdentityReport,
    manifest_label: str,
    detailed_json: Callable[[], str],
    anchors: Sequence[x509.Certificate],
) -> IdentityReport:
    import c2pa

    if not IDENTITY_SIGNATURE_VALID & {c.code for c in identity.validation.success}:
        return replace(identity, detail="c2pa did not report its signature as validated")
    try:
        detailed = json.loads(detailed_json())
        entry = detailed["manifests"][manifest_label]["assertion_store"][identity.label]
        chain = credential_chain(entry["signature"])
        anchor = anchoring_subject(chain, anchors)
    except ChainProblem as exc:
        return replace(identity, detail=f"not vouched for by the CAWG trust anchors: {exc}")
    except (c2pa.C2paError, ValueError, KeyError, TypeError) as exc:
        detail = f"its credential could not be read from c2pa's detailed report ({exc})"
        return replace(identity, detail=detail)
    return replace(
        identity,
        trust="trusted",
        subject=chain[0].subject.rfc4514_string(),
        trusted_by=f"CAWG trust anchor {anchor}",
        detail="chain checked by Provenant: c2pa 0.91 ignores cawg_trust anchors when reading",
    )


def signer_trust(report: VerificationReport) -> str | None:
    """The claim signer's own trust, from the codes on the claim signature alone."""
    if report.manifest_label is None:
        return None
    own = Validation(
        *(
            tuple(c for c in codes if not _is_identity_url(c.url))
            for codes in (report.validation.failure, report.validation.success)
        )
    )
    failures = set(own.failure_codes)
    if any(code.startswith(_CLAIM_PREFIXES) and code != SIGNER_UNTRUSTED for code in failures):
        return "invalid"
    if report.state is State.TRUSTED or SIGNER_TRUSTED in {c.code for c in own.success}:
        return "trusted"
    if SIGNER_UNTRUSTED in failures or report.state is State.VALID_UNTRUSTED:
        return "untrusted"
    return None


def apply_identities(
    report: VerificationReport, identities: tuple[IdentityReport, ...]
) -> VerificationReport:
    """Attach the signer's and identities' trust; reword the reason when identities decide."""
    report = replace(report, identities=identities, signer_trust=signer_trust(report))
    if not identities:
        return report
    signer = report.signer.subject if report.signer else "unknown signer"
    if report.state is State.VALID_UNTRUSTED and _only_identity_trust_fails(report):
        pending = [i for i in identities if i.trust != "trusted"]
        if not pending:
            reason = f"trusted credentials signed by {signer}; " + _trusted_text(identities)
            return replace(report, state=State.TRUSTED, reason=reason)
        return replace(report, reason=_untrusted_text(signer, pending))
    if report.state is State.TRUSTED:
        return replace(report, reason=f"{report.reason}; {_trusted_text(identities)}")
    return report


def _only_identity_trust_fails(report: VerificationReport) -> bool:
    """The claim signer is trusted and every failure is an identity credential's trust."""
    return report.signer_trust == "trusted" and all(
        _is_identity_url(c.url) and c.code in IDENTITY_UNTRUSTED for c in report.validation.failure
    )


def _trusted_text(identities: Sequence[IdentityReport]) -> str:
    return "; ".join(
        f"identity {i.label} {i.subject or '(unnamed)'} {i.trust}"
        + (f" ({i.trusted_by})" if i.trusted_by else "")
        for i in identities
    )


def _untrusted_text(signer: str, pending: Sequence[IdentityReport]) -> str:
    named = "; ".join(
        f"{i.label} {i.subject or '(unnamed)'} ({', '.join(i.validation.failure_codes)})"
        + (f": {i.detail}" if i.detail else "")
        for i in pending
    )
    noun = "identity assertion is" if len(pending) == 1 else "identity assertions are"
    return (
        f"claim signer {signer} is trusted ({SIGNER_TRUSTED}), but its {noun} not: {named}; "
        "add the identity credential's root with --cawg-trust-anchors"
    )

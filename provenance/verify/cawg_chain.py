"""Does a CAWG X.509 identity credential chain to one of the studio's CAWG trust anchors?

A stopgap for one gap in c2pa 0.91.3 (the library inside c2pa-python 0.38.1): while reading,
it validates a `cawg.x509.cose` identity assertion against default settings instead of the
reader's own (contentauth/c2pa-rs#2599), so `cawg_trust.user_anchors` never takes effect and
every X.509 identity credential reads as `cawg.x509.credential.untrusted`.  c2pa has already
checked the identity's COSE signature with the credential's key
(`cawg.x509.signature.validated`) when this runs; what is decided here is only whether the
certificate chain that signature carries reaches an anchor the studio configured for
identities (`[trust] cawg_anchors`, `--cawg-trust-anchors`).

The chain is read from the COSE_Sign1 bytes c2pa hands out (its detailed JSON; decoded with
cbor2, the `x5chain` header, label 33), never from the file's containers.  The check is the
CAWG profile's core, nothing more: the leaf carries emailProtection or documentSigning, every
certificate is within its validity now (an identity assertion has no time stamp of its own),
each certificate is signed by the next (`cryptography`'s `verify_directly_issued_by`, which
also covers the Ed25519 chains that its WebPKI verifier refuses), issuers are CAs, and the
chain ends at, or is issued by, a configured anchor.  No revocation, no name constraints.
`tests/integration/trust/test_c2pa_rs_fixtures.py` holds a strict xfail that starts passing
when c2pa applies `cawg_trust` itself; this module goes then.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID

from provenance.errors import VerificationError

#: EKUs the CAWG identity assertion's X.509 trust model recognises for identity credentials.
CAWG_EKUS = frozenset({ExtendedKeyUsageOID.EMAIL_PROTECTION.dotted_string, "1.3.6.1.5.5.7.3.36"})

#: COSE header label of the certificate chain (RFC 9360).
X5CHAIN = 33


class ChainProblem(VerificationError):
    """Why a credential does not chain to an anchor (one line, shown to the user)."""


def credential_chain(signature: Any) -> list[x509.Certificate]:
    """The x5chain of an identity assertion's COSE_Sign1 (`signature` as c2pa's detailed JSON
    gives it: base64 text, or a list of byte values)."""
    import cbor2

    try:
        raw = base64.b64decode(signature) if isinstance(signature, str) else bytes(signature)
        message = cbor2.loads(raw)
        parts = message.value if isinstance(message, cbor2.CBORTag) else message
        protected = cbor2.loads(parts[0]) if parts[0] else {}
        unprotected = parts[1] if isinstance(parts[1], dict) else {}
        chain = protected.get(X5CHAIN) or unprotected.get(X5CHAIN)
        ders = [chain] if isinstance(chain, bytes) else list(chain or [])
        certificates = [x509.load_der_x509_certificate(der) for der in ders]
    except (ValueError, TypeError, IndexError, KeyError, AttributeError, cbor2.CBORError) as exc:
        detail = f"its COSE signature carries no readable certificate chain ({exc})"
        raise ChainProblem(detail) from exc
    if not certificates:
        raise ChainProblem("its COSE signature carries no certificate chain")
    return certificates


def anchoring_subject(
    chain: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    at: datetime | None = None,
) -> str:
    """The subject of the anchor `chain` reaches; `ChainProblem` says why it reaches none."""
    at = at or datetime.now(UTC)
    _check_leaf(chain[0])
    fingerprints = {a.fingerprint(hashes.SHA256()): a for a in anchors}
    for index, cert in enumerate(chain):
        _check_validity(cert, at)
        if cert.fingerprint(hashes.SHA256()) in fingerprints:
            return cert.subject.rfc4514_string()  # links below were checked on the way up
        if index + 1 < len(chain):
            _check_issued(cert, chain[index + 1])
    top = chain[-1]
    for anchor in anchors:
        if anchor.subject == top.issuer and _issued_by(top, anchor) and _valid_at(anchor, at):
            return anchor.subject.rfc4514_string()
    namesake = any(anchor.subject == top.issuer for anchor in anchors)
    raise ChainProblem(
        f"none of the {len(anchors)} CAWG trust anchor(s) issued "
        f"{top.subject.rfc4514_string()} (issuer {top.issuer.rfc4514_string()})"
        + (
            "; an anchor of that name is configured, but its key did not sign it"
            if namesake
            else ""
        )
    )


def _check_leaf(leaf: x509.Certificate) -> None:
    try:
        usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise ChainProblem("the identity certificate has no extended key usage") from None
    if not CAWG_EKUS & {u.dotted_string for u in usages}:
        raise ChainProblem("the identity certificate is not for emailProtection or documentSigning")


def _valid_at(cert: x509.Certificate, at: datetime) -> bool:
    return cert.not_valid_before_utc <= at <= cert.not_valid_after_utc


def _check_validity(cert: x509.Certificate, at: datetime) -> None:
    if not _valid_at(cert, at):
        raise ChainProblem(
            f"{cert.subject.rfc4514_string()} is valid {cert.not_valid_before_utc:%Y-%m-%d} "
            f"to {cert.not_valid_after_utc:%Y-%m-%d}, not now"
        )


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _issued_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    if not _is_ca(issuer):
        return False
    try:
        child.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _check_issued(child: x509.Certificate, issuer: x509.Certificate) -> None:
    if not _issued_by(child, issuer):
        raise ChainProblem(
            f"{child.subject.rfc4514_string()} is not signed by the CA "
            f"{issuer.subject.rfc4514_string()} that follows it in the chain"
        )

"""Signing certificates the studio has used, as rows of `signing_keys`.

`signing_key_info` reads what the ledger keeps from a PEM certificate, so the pipeline can
record the key it signs with; `signing_key_row` checks a caller's dict before it is stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from provenance.errors import LedgerError


def signing_key_info(certificate_pem: bytes) -> dict[str, Any]:
    """Fingerprint (SHA-256 of the DER certificate, hex), subject, issuer and validity."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        cert = x509.load_pem_x509_certificates(certificate_pem)[0]
    except ValueError as exc:
        raise LedgerError(f"signing key: not a PEM certificate ({exc})") from exc
    der = cert.public_bytes(serialization.Encoding.DER)
    return {
        "fingerprint": hashlib.sha256(der).hexdigest(),
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "not_before": cert.not_valid_before_utc,
        "not_after": cert.not_valid_after_utc,
    }


def _timestamp(value: Any, name: str) -> datetime | None:
    """A datetime from a datetime or ISO-8601 text (None stays None)."""
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise LedgerError(f"signing key: {name} is not an ISO-8601 timestamp: {value!r}") from None


def signing_key_row(info: Mapping[str, Any]) -> dict[str, Any]:
    """The `signing_keys` row for `info` (fingerprint, subject, issuer required)."""
    missing = [k for k in ("fingerprint", "subject", "issuer") if not info.get(k)]
    if missing:
        raise LedgerError(f"signing key: missing {', '.join(missing)}")
    return {
        "fingerprint": str(info["fingerprint"]),
        "subject": str(info["subject"]),
        "issuer": str(info["issuer"]),
        "not_before": _timestamp(info.get("not_before"), "not_before"),
        "not_after": _timestamp(info.get("not_after"), "not_after"),
        "first_used_at": _timestamp(info.get("first_used_at"), "first_used_at")
        or datetime.now(UTC),
    }

"""Reading and checking signing credentials: PEM chains, private keys, and the rules C2PA
validators apply to a signing certificate.

Why the checks run early: c2pa would sign with an expired or wrongly-extended certificate and
only a verifier, later and elsewhere, would notice.  We refuse it when the signer opens, with
a message that names the file and the fix.  Messages never contain key material, and key
parse errors are not chained, so not even a debug traceback carries a fragment of a key.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from provenance.credentials.trust import SIGNING_EKUS
from provenance.errors import CertificateError, KeyFileError

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
_SUPPORTED_KEYS = (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)


def load_certificate_chain(path: Path) -> list[x509.Certificate]:
    """Read a PEM chain (signing certificate first, then intermediates)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise CertificateError(
            f"{path}: certificate chain not found; run `provenant init` or set "
            "[signing] certificate_chain"
        ) from None
    except OSError as exc:
        raise CertificateError(f"{path}: cannot read certificate chain ({exc.strerror})") from exc
    return parse_certificate_chain(data, str(path))


def parse_certificate_chain(data: bytes, where: str) -> list[x509.Certificate]:
    """Parse PEM certificates; `where` names their source in errors."""
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise CertificateError(f"{where}: not a PEM certificate chain") from exc
    if not chain:
        raise CertificateError(f"{where}: no certificates found")
    return chain


def _is_encrypted_pem(data: bytes) -> bool:
    head = data[:4096]
    return b"BEGIN ENCRYPTED PRIVATE KEY" in head or b"Proc-Type: 4,ENCRYPTED" in head


def load_private_key(
    path: Path, passphrase: bytes | None, *, passphrase_env: str | None = None
) -> PrivateKey:
    """Load a PEM private key (PKCS#8 or traditional; passphrase-protected supported).

    Errors say what is wrong and how to fix it, and never include the key bytes; parse
    errors are not chained, so not even a debug traceback carries a fragment of the key.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise KeyFileError(
            f"{path}: private key not found; run `provenant init` or set [signing] private_key"
        ) from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read private key ({exc.strerror})") from None
    encrypted = _is_encrypted_pem(data)
    if encrypted and not passphrase:
        hint = f"set {passphrase_env}" if passphrase_env else "give its passphrase"
        raise KeyFileError(f"{path}: private key is passphrase-protected; {hint}")
    try:
        key = serialization.load_pem_private_key(data, passphrase if encrypted else None)
    except (ValueError, TypeError):
        reason = "wrong passphrase" if encrypted else "not a PEM private key, or corrupt"
        raise KeyFileError(f"{path}: cannot load private key ({reason})") from None
    except UnsupportedAlgorithm:
        raise KeyFileError(f"{path}: unsupported private key algorithm") from None
    if not isinstance(
        key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise KeyFileError(
            f"{path}: unsupported key type {type(key).__name__}; use EC, RSA or Ed25519"
        )
    return key


def check_key_file_permissions(path: Path) -> None:
    """Refuse a private key that other users can read (POSIX only)."""
    if os.name != "posix":
        return
    try:
        mode = stat.S_IMODE(Path(path).stat().st_mode)
    except FileNotFoundError:
        raise KeyFileError(
            f"{path}: private key not found; run `provenant init` or set [signing] private_key"
        ) from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot stat private key ({exc.strerror})") from exc
    if mode & 0o077:
        raise KeyFileError(
            f"{path}: private key is accessible by group or others (mode {mode:04o}); "
            f"run `chmod 600 {path}`"
        )


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


def _check_validity(cert: x509.Certificate, now: dt.datetime, role: str) -> None:
    if now < cert.not_valid_before_utc:
        raise CertificateError(
            f"{role} {_subject(cert)} is not valid until {cert.not_valid_before_utc.isoformat()}"
        )
    if now > cert.not_valid_after_utc:
        raise CertificateError(
            f"{role} {_subject(cert)} expired on {cert.not_valid_after_utc.isoformat()}"
        )


def _extension(cert: x509.Certificate, kind: type[Any]) -> Any:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def check_signing_certificate(
    chain: Sequence[x509.Certificate], now: dt.datetime | None = None
) -> None:
    """Refuse a chain that C2PA validators would reject, before anything is signed.

    The leaf must be in its validity period, an end-entity (CA:FALSE) certificate with
    KeyUsage digitalSignature and a C2PA signing EKU; every intermediate must be in its
    validity period and issue the certificate before it.
    """
    if not chain:
        raise CertificateError("certificate chain is empty")
    now = now or dt.datetime.now(dt.UTC)
    leaf = chain[0]
    _check_validity(leaf, now, "signing certificate")
    constraints = _extension(leaf, x509.BasicConstraints)
    if constraints is not None and constraints.ca:
        raise CertificateError(
            f"signing certificate {_subject(leaf)} is a CA certificate (CA:TRUE); "
            "C2PA needs an end-entity certificate"
        )
    usage = _extension(leaf, x509.KeyUsage)
    if usage is None or not usage.digital_signature:
        raise CertificateError(
            f"signing certificate {_subject(leaf)} lacks KeyUsage digitalSignature"
        )
    ekus = _extension(leaf, x509.ExtendedKeyUsage)
    if ekus is None or not {oid.dotted_string for oid in ekus} & set(SIGNING_EKUS):
        accepted = ", ".join(SIGNING_EKUS.values())
        raise CertificateError(
            f"signing certificate {_subject(leaf)} lacks a C2PA signing ExtendedKeyUsage "
            f"(one of {accepted})"
        )
    for child, parent in itertools.pairwise(chain):
        _check_validity(parent, now, "intermediate certificate")
        if child.issuer != parent.subject:
            raise CertificateError(
                f"certificate chain out of order: {_subject(child)} is not issued by "
                f"{_subject(parent)}"
            )


def check_key_matches_certificate(key: PrivateKey, cert: x509.Certificate) -> None:
    """Refuse a key that is not the signing certificate's (signatures would never verify)."""
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        raise KeyFileError(f"private key does not belong to signing certificate {_subject(cert)}")


def certificate_fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 over the DER certificate, lower-case hex (what `openssl x509 -fingerprint` shows)."""
    return cert.fingerprint(hashes.SHA256()).hex()


def describe_certificate(cert: x509.Certificate) -> dict[str, Any]:
    """JSON-ready facts about a certificate for `keys show`, `verify --certs` and the ledger."""
    constraints = _extension(cert, x509.BasicConstraints)
    return {
        "subject": _subject(cert),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "sha256_fingerprint": certificate_fingerprint(cert),
        "is_ca": bool(constraints and constraints.ca),
    }

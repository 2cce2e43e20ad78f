"""Signing keys: the development CA, key files written safely, and the prompt salt.

Key files are created with mode 0600 from the first byte (never chmod-ed afterwards, so no
other user can ever read a partially written key).  Reading and checking credentials lives
in `provenance.credentials.certificates`; its public names are re-exported here, so
`provenance.credentials.keys`
is the one place callers import key handling from.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import secrets
from dataclasses import dataclass, fields
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

from provenance.credentials.certificates import (
    PrivateKey,
    certificate_fingerprint,
    check_key_file_permissions,
    check_key_matches_certificate,
    check_signing_certificate,
    describe_certificate,
    load_certificate_chain,
    load_private_key,
    parse_certificate_chain,
)
from provenance.credentials.trust import (
    DEFAULT_ORGANISATION,
    EKU_DOCUMENT_SIGNING,
    EKU_EMAIL_PROTECTION,
)
from provenance.errors import KeyFileError

__all__ = [
    "DEFAULT_ORGANISATION",
    "DEV_CA_NOTICE",
    "DevCredentials",
    "PrivateKey",
    "certificate_fingerprint",
    "check_key_file_permissions",
    "check_key_matches_certificate",
    "check_signing_certificate",
    "create_dev_ca",
    "describe_certificate",
    "ensure_prompt_salt",
    "load_certificate_chain",
    "load_private_key",
    "parse_certificate_chain",
    "salt_id",
]

DEV_MARK = "DEVELOPMENT ONLY"
CA_VALID_DAYS = 3650
LEAF_VALID_DAYS = 730
SALT_BYTES = 32
_CLOCK_SKEW = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class DevCredentials:
    """Where the development CA and signing credentials live inside a keys directory."""

    root_cert: Path
    root_key: Path
    intermediate_cert: Path
    intermediate_key: Path
    signing_chain: Path
    signing_key: Path

    @classmethod
    def at(cls, keys_dir: Path) -> DevCredentials:
        """The standard file names under `keys_dir` (nothing is read or written)."""
        return cls(
            root_cert=keys_dir / "dev-root-ca.pem",
            root_key=keys_dir / "dev-root-ca-key.pem",
            intermediate_cert=keys_dir / "dev-intermediate-ca.pem",
            intermediate_key=keys_dir / "dev-intermediate-ca-key.pem",
            signing_chain=keys_dir / "signing-chain.pem",
            signing_key=keys_dir / "signing-key.pem",
        )

    def paths(self) -> list[Path]:
        """Every file of the set, in creation order."""
        return [getattr(self, f.name) for f in fields(self)]

    def existing(self) -> list[Path]:
        """The files of the set that are already on disk."""
        return [p for p in self.paths() if p.exists()]

    def as_dict(self) -> dict[str, str]:
        """Paths by role, JSON-ready (`init --json`, `keys create --json`)."""
        return {f.name: str(getattr(self, f.name)) for f in fields(self)}


def create_dev_ca(
    keys_dir: Path,
    organisation: str = DEFAULT_ORGANISATION,
    *,
    force: bool = False,
    valid_days: int = LEAF_VALID_DAYS,
    passphrase: bytes | None = None,
) -> DevCredentials:
    """Create a root CA, an intermediate CA and an ES256 signing certificate for development.

    The leaf carries what C2PA validators require (KeyUsage digitalSignature, EKUs
    emailProtection and documentSigning, CA:FALSE), so credentials verify as Trusted once the
    root is a trust anchor.  Existing files are never replaced unless `force` is given: a new
    root would make every file signed so far verify only against the old one.
    """
    creds = DevCredentials.at(keys_dir)
    if not force and creds.existing():
        names = ", ".join(p.name for p in creds.existing())
        raise KeyFileError(
            f"{keys_dir}: development keys already exist ({names}); pass --force to replace them"
        )
    _make_private_dir(keys_dir)
    now = dt.datetime.now(dt.UTC)
    root_key, int_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _ca_certificate(root_key, root_key, None, "Root CA", organisation, now)
    inter = _ca_certificate(int_key, root_key, root, "Intermediate CA", organisation, now)
    leaf = _leaf_certificate(leaf_key, int_key, inter, organisation, now, valid_days)
    _write_private(creds.root_key, _pkcs8(root_key, None))
    _write_private(creds.intermediate_key, _pkcs8(int_key, None))
    _write_private(creds.signing_key, _pkcs8(leaf_key, passphrase))
    _write_public(creds.root_cert, _pem(root))
    _write_public(creds.intermediate_cert, _pem(inter))
    _write_public(creds.signing_chain, _pem(leaf) + _pem(inter))
    return creds


def _name(role: str, organisation: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"Provenant {role} ({DEV_MARK})"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation[:64]),
            x509.NameAttribute(
                NameOID.ORGANIZATIONAL_UNIT_NAME, f"{DEV_MARK} - not for production"
            ),
        ]
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _ca_certificate(
    key: ec.EllipticCurvePrivateKey,
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    role: str,
    organisation: str,
    now: dt.datetime,
) -> x509.Certificate:
    subject = _name(role, organisation)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + dt.timedelta(days=CA_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0 if issuer else 1), True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if issuer is not None:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())
        builder = builder.add_extension(aki, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _leaf_certificate(
    key: ec.EllipticCurvePrivateKey,
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate,
    organisation: str,
    now: dt.datetime,
    valid_days: int,
) -> x509.Certificate:
    not_after = min(now + dt.timedelta(days=valid_days), issuer.not_valid_after_utc)
    ekus = [ObjectIdentifier(EKU_EMAIL_PROTECTION), ObjectIdentifier(EKU_DOCUMENT_SIGNING)]
    return (
        x509.CertificateBuilder()
        .subject_name(_name("Content Credentials Signer", organisation))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
        .sign(issuer_key, hashes.SHA256())
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _pkcs8(key: PrivateKey, passphrase: bytes | None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _make_private_dir(path: Path) -> None:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot create keys directory ({exc.strerror})") from exc


def _write_private(path: Path, data: bytes) -> None:
    """Write a secret with mode 0600 from creation on, atomically (temp file + rename)."""
    _write_atomic(path, data, 0o600)


def _write_public(path: Path, data: bytes) -> None:
    _write_atomic(path, data, 0o644)


def _write_atomic(path: Path, data: bytes, mode: int, *, replace: bool = True) -> None:
    """Write via a temp file created with `mode`, then rename (or link, when not replacing).

    With `replace=False` an existing file wins and `FileExistsError` is raised, so two
    processes creating the same secret at once both end up with the first one's bytes.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(tmp, flags, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    finally:
        tmp.unlink(missing_ok=True)


def ensure_prompt_salt(keys_dir: Path) -> bytes:
    """The studio's secret salt for prompt hashes (created once, mode 0600).

    With `manifest.prompt = "salted_hash"` a manifest carries HMAC-SHA256(salt, prompt):
    the studio can prove which prompt made an image, outsiders cannot guess it.
    """
    path = keys_dir / "prompt-salt"
    if not path.exists():
        _make_private_dir(keys_dir)
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            _write_atomic(path, secrets.token_bytes(SALT_BYTES), 0o600, replace=False)
    check_key_file_permissions(path)
    try:
        salt = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read prompt salt ({exc.strerror})") from exc
    if len(salt) < 16:
        raise KeyFileError(f"{path}: prompt salt is too short ({len(salt)} bytes); recreate it")
    return salt


def salt_id(salt: bytes) -> str:
    """A public name for a salt (first 16 hex of its SHA-256), so auditors know which one."""
    return hashlib.sha256(salt).hexdigest()[:16]


#: What `init` and `keys create` say about the development CA, in plain words.
DEV_CA_NOTICE = (
    "The development CA is for DEVELOPMENT ONLY: credentials it signs are trusted only where "
    "its root (keys/dev-root-ca.pem) is configured as a trust anchor. For production, set "
    "[signing] certificate_chain and private_key to a certificate from a CA your verifiers "
    "trust (KeyUsage digitalSignature, EKU emailProtection or documentSigning), or "
    'signer = "<plugin>" for a KMS/HSM signer plugin.'
)

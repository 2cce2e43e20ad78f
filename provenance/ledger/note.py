"""C2SP signed notes (c2sp.org/signed-note): text, a blank line, then signature lines.

    <text ending in a newline>
    \n
    — <key name> <base64(4-byte key ID || signature)>\n

The parts any note shares, whatever its text: splitting a note into its text and signature
lines, the keys that sign and verify them and their key IDs, and the `name+keyid+base64`
verifier-key form.  Byte for byte as Go's `golang.org/x/mod/sumdb/note` reads and writes
them (tests/unit/ledger/test_transparency_vectors.py checks that against that package's
own keys, notes and signatures).  What a checkpoint's text says is `checkpoint`'s business.

Signature types:

* `0x01` Ed25519: the key ID is the first 4 bytes of
  SHA-256(key name || 0x0A || 0x01 || 32-byte public key), as sumdb/note computes it.
* `0x02` ECDSA, as github.com/transparency-dev/witness implements it (the studio's es256
  P-256 key): ASN.1 DER ECDSA over SHA-256 of the text; the key ID is the first 4 bytes of
  SHA-256 of the DER SubjectPublicKeyInfo, as c2sp.org/signed-note specifies for this type.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from provenance.errors import BadInputError, SigningError

SIG_ED25519 = 0x01
SIG_ECDSA = 0x02
EM_DASH = "\u2014"
#: Go's note.Open refuses notes with more signatures than this.
MAX_SIGNATURES = 100

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


@dataclass(frozen=True)
class NoteKey:
    """A public key as a signed-note verifier sees it: name, signature type, key ID."""

    name: str
    sig_type: int
    public_key: PublicKey
    key_id: bytes

    @classmethod
    def from_public_key(cls, name: str, public_key: PublicKey) -> NoteKey:
        """Derive the signature type and key ID for `public_key` under `name`."""
        if isinstance(public_key, ed25519.Ed25519PublicKey):
            raw = public_key.public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
            digest = hashlib.sha256(name.encode() + b"\n" + bytes([SIG_ED25519]) + raw).digest()
            return cls(name, SIG_ED25519, public_key, digest[:4])
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            if not isinstance(public_key.curve, ec.SECP256R1):
                raise SigningError(
                    f"checkpoint keys on curve {public_key.curve.name} are not supported; "
                    "use P-256 (es256) or Ed25519"
                )
            return cls(name, SIG_ECDSA, public_key, hashlib.sha256(_spki(public_key)).digest()[:4])
        raise SigningError(
            f"a {type(public_key).__name__} cannot sign checkpoints; use P-256 or Ed25519"
        )

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether `signature` (as carried in the note) is valid over `message`."""
        try:
            if isinstance(self.public_key, ed25519.Ed25519PublicKey):
                self.public_key.verify(signature, message)
            else:
                self.public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            return False
        return True

    @classmethod
    def from_verifier_key(cls, vkey: str) -> NoteKey:
        """Read `<name>+<hex key ID>+<base64(type || public key)>` (Go's `NewVerifier`);
        the key ID must be the one the name and key give."""
        name, _, rest = vkey.partition("+")
        key_hash, _, encoded = rest.partition("+")
        try:
            material = base64.b64decode(encoded, validate=True)
            wanted = bytes.fromhex(key_hash)
            public_key = _verifier_public_key(material)
        except (binascii.Error, ValueError, IndexError):
            raise BadInputError(f"malformed verifier key {vkey!r}") from None
        if not _valid_name(name) or len(key_hash) != 8 or len(wanted) != 4:
            raise BadInputError(f"malformed verifier key {vkey!r}")
        key = cls.from_public_key(name, public_key)
        if key.key_id != wanted:
            raise BadInputError(f"verifier key {vkey!r}: key ID does not match the key")
        return key

    def verifier_key(self) -> str:
        """`<name>+<hex key ID>+<base64(type || public key)>`, as Go's note package reads it."""
        if isinstance(self.public_key, ed25519.Ed25519PublicKey):
            material = self.public_key.public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        else:
            material = _spki(self.public_key)
        encoded = base64.b64encode(bytes([self.sig_type]) + material).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"


def _verifier_public_key(material: bytes) -> PublicKey:
    if material[0] == SIG_ED25519 and len(material) == 33:
        return ed25519.Ed25519PublicKey.from_public_bytes(material[1:])
    if material[0] == SIG_ECDSA:
        key = serialization.load_der_public_key(material[1:])
        if isinstance(key, ec.EllipticCurvePublicKey):
            return key
    raise ValueError("unknown signature type or key length")


def _valid_name(name: str) -> bool:
    """Key names are non-empty, without Unicode spaces or '+' (c2sp.org/signed-note)."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def _spki(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(source: bytes | str | PublicKey | x509.Certificate) -> PublicKey:
    """A public key from a PEM certificate (first of a chain), a PEM public key, or objects."""
    if isinstance(source, x509.Certificate):
        source = source.public_key()  # type: ignore[assignment]
    if isinstance(source, (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)):
        return source
    data = source.encode() if isinstance(source, str) else source
    if not isinstance(data, bytes):
        raise SigningError(f"cannot read a public key from a {type(source).__name__}")
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            key: Any = x509.load_pem_x509_certificates(data)[0].public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise SigningError(f"not a PEM certificate or public key ({exc})") from exc
    if not isinstance(key, (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)):
        raise SigningError(f"a {type(key).__name__} cannot verify checkpoints; need P-256/Ed25519")
    return key


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note."""

    name: str
    key_id: bytes
    signature: bytes


def split_note(text: str, what: str = "signed note") -> tuple[str, list[NoteSignature]]:
    """(signed text, signature lines) of a note; `BadInputError` says what is malformed.

    The text runs to the last blank line and keeps its final newline, as Go's note.Open
    splits it; `what` names the note in messages ("checkpoint").
    """
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise BadInputError(f"{what}: contains control characters")
    body, sep, signatures = text.rpartition("\n\n")
    if not sep or not signatures.endswith("\n"):
        raise BadInputError(f"{what}: no blank line followed by signature lines")
    lines = signatures[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise BadInputError(f"{what}: more than {MAX_SIGNATURES} signatures")
    return body + "\n", [_signature(line, what) for line in lines]


def _signature(line: str, what: str) -> NoteSignature:
    parts = line.split(" ")
    if len(parts) != 3 or parts[0] != EM_DASH or not _valid_name(parts[1]):
        raise BadInputError(f"{what}: bad signature line {line!r}")
    raw = b64decode(parts[2], f"{what}: signature")
    if len(raw) < 5:
        raise BadInputError(f"{what}: signature too short")
    return NoteSignature(parts[1], raw[:4], raw[4:])


def signature_line(key: NoteKey, signature: bytes) -> str:
    """`— <name> <base64(key ID || signature)>` and its newline."""
    return f"{EM_DASH} {key.name} {base64.b64encode(key.key_id + signature).decode()}\n"


def signed_note(text: str, lines: Iterator[str] | list[str]) -> str:
    """The note: its text, a blank line, then the signature lines."""
    return text + "\n" + "".join(lines)


def b64decode(text: str, what: str) -> bytes:
    """Strict standard base64 (RFC 4648), or `BadInputError` naming `what`."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadInputError(f"{what} is not base64") from None

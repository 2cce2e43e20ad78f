"""Signed checkpoints of the ledger: C2SP `tlog-checkpoint` bodies in C2SP `signed-note`s.

A checkpoint commits to the first `tree_size` entries through their RFC 6962 Merkle root
(leaf data: each entry's 32-byte row hash, in seq order).  Kept outside the database, it
lets an auditor prove later that the ledger was not cut short (fewer entries than the
checkpoint) or rewritten (a different root over the same entries), even by someone able
to recompute every row hash.

Note text::

    <origin>\\n<tree size>\\n<base64 root hash>\\n
    \\n
    — <key name> <base64(4-byte key ID || signature)>\\n

Signature types (c2sp.org/signed-note):

* `0x02` ECDSA, as github.com/transparency-dev/witness implements it — used for the
  studio's es256 (P-256) key: the signature is ASN.1 DER ECDSA over SHA-256 of the note
  text, and the key ID is the first 4 bytes of SHA-256 of the DER SubjectPublicKeyInfo.
* `0x01` Ed25519 — for an ed25519 signer: the key ID is the first 4 bytes of
  SHA-256(key name || 0x0A || 0x01 || 32-byte public key).

The key name is the origin.  `verifier_key` gives the `name+keyid+base64` form that Go's
`sumdb/note` tooling reads.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from provenance.errors import BadInputError, ChainBrokenError, LedgerError, SigningError
from provenance.ledger import _read, models
from provenance.ledger.merkle import merkle_root
from provenance.ledger.repository import Ledger
from provenance.protocols import SignerPlugin

SIG_ED25519 = 0x01
SIG_ECDSA = 0x02
EM_DASH = "\u2014"
_ORIGIN = re.compile(r"^[^\s+\x00-\x1f]+$")
_SIZE = re.compile(r"^(0|[1-9][0-9]{0,18})$")

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
class Checkpoint:
    """The signed body: origin, tree size, root hash."""

    origin: str
    tree_size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        """The note text that is signed (ends in a newline)."""
        root = base64.b64encode(self.root_hash).decode()
        return "".join(
            f"{line}\n" for line in (self.origin, self.tree_size, root, *self.extensions)
        )


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note."""

    name: str
    key_id: bytes
    signature: bytes


def parse_note(text: str) -> tuple[Checkpoint, list[NoteSignature]]:
    """Split and check a checkpoint note; `BadInputError` says what is malformed."""
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise BadInputError("checkpoint: contains control characters")
    body, sep, signatures = text.rpartition("\n\n")
    if not sep or not signatures.endswith("\n"):
        raise BadInputError("checkpoint: no blank line followed by signature lines")
    lines = (body + "\n").split("\n")[:-1]
    if len(lines) < 3:
        raise BadInputError("checkpoint: body must have origin, tree size and root hash lines")
    origin, size, root = lines[0], lines[1], lines[2]
    if not _ORIGIN.match(origin):
        raise BadInputError(f"checkpoint: bad origin line {origin!r}")
    if not _SIZE.match(size):
        raise BadInputError(f"checkpoint: bad tree size {size!r}")
    root_hash = _b64(root, "root hash")
    if len(root_hash) != 32:
        raise BadInputError("checkpoint: root hash is not 32 bytes")
    checkpoint = Checkpoint(origin, int(size), root_hash, tuple(lines[3:]))
    return checkpoint, list(_signature_lines(signatures))


def _signature_lines(block: str) -> Iterator[NoteSignature]:
    for line in block[:-1].split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != EM_DASH or not parts[1]:
            raise BadInputError(f"checkpoint: bad signature line {line!r}")
        raw = _b64(parts[2], "signature")
        if len(raw) < 5:
            raise BadInputError("checkpoint: signature too short")
        yield NoteSignature(parts[1], raw[:4], raw[4:])


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadInputError(f"checkpoint: {what} is not base64") from None


def ledger_root(ledger: Ledger, tree_size: int) -> tuple[int, bytes]:
    """(entries found, Merkle root) over the first `tree_size` consecutive entries."""
    with ledger.read_snapshot("computing the ledger's Merkle root") as conn:
        leaves = (bytes.fromhex(h) for h in _read.iter_row_hashes(conn, tree_size))
        return merkle_root(leaves)


def default_origin(ledger: Ledger) -> str:
    """`provenant.local/ledger/<log id>`: stable for the life of this ledger."""
    return f"provenant.local/ledger/{ledger.log_id()}"


def make_checkpoint(
    ledger: Ledger, signer: SignerPlugin, origin: str | None = None, *, verify: bool = True
) -> str:
    """Sign the current head as a checkpoint note, store it, and return the note text.

    With `verify` (the default) the chain is verified first: a checkpoint must never vouch
    for a ledger that was already tampered with.
    """
    origin = origin or default_origin(ledger)
    if not _ORIGIN.match(origin):
        raise BadInputError(
            f"checkpoint origin {origin!r} must be non-empty, without spaces or '+'"
        )
    if verify:
        report = ledger.verify_chain()
        if not report.ok:
            raise ChainBrokenError(f"refusing to sign a checkpoint: {report.describe()}")
        size = report.head_seq
    else:
        size = ledger.head()[0]
    found, root = ledger_root(ledger, size)
    if found != size:
        raise LedgerError(f"ledger has {found} consecutive entries, head says {size}")
    checkpoint = Checkpoint(origin, size, root)
    note = _sign(checkpoint, signer)
    _store(ledger, checkpoint, note)
    return note


def _sign(checkpoint: Checkpoint, signer: SignerPlugin) -> str:
    key = NoteKey.from_public_key(
        checkpoint.origin, load_public_key(signer.certificate_chain_pem())
    )
    algorithm = signer.algorithm()
    expected = "ed25519" if key.sig_type == SIG_ED25519 else "es256"
    if algorithm != expected:
        raise SigningError(f"signer algorithm {algorithm!r} does not fit its key ({expected})")
    message = checkpoint.body().encode()
    signature = signer.sign(message)
    if key.sig_type == SIG_ECDSA and len(signature) == 64:  # COSE r||s -> ASN.1 DER
        signature = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
    if not key.verify(message, signature):
        raise SigningError("the signer's signature does not verify with its own certificate")
    line = base64.b64encode(key.key_id + signature).decode()
    return f"{checkpoint.body()}\n{EM_DASH} {key.name} {line}\n"


def _store(ledger: Ledger, checkpoint: Checkpoint, note: str) -> None:
    row = {
        "origin": checkpoint.origin,
        "tree_size": checkpoint.tree_size,
        "root_hash": checkpoint.root_hash.hex(),
        "note": note,
        "created_at": datetime.now(UTC),
    }
    with ledger.errors("storing a checkpoint"), ledger.engine.begin() as conn:
        conn.execute(models.checkpoints.insert(), [row])


@dataclass(frozen=True)
class CheckpointReport:
    """Result of checking a checkpoint against a key and the ledger."""

    ok: bool
    origin: str
    tree_size: int
    root_hash: str
    ledger_size: int
    reason: str | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    def describe(self) -> str:
        """One line for humans."""
        if self.ok:
            return f"checkpoint {self.origin} at size {self.tree_size} matches the ledger"
        return f"checkpoint {self.origin} at size {self.tree_size}: {self.reason}: {self.detail}"


def verify_checkpoint(
    ledger: Ledger, note_text: str, public_key_or_cert: bytes | str | PublicKey | x509.Certificate
) -> CheckpointReport:
    """Check the note's signature, then that the ledger's first entries have its root."""
    checkpoint, signatures = parse_note(note_text)
    public_key = load_public_key(public_key_or_cert)
    ledger_size = ledger.head()[0]
    problem = _signature_problem(checkpoint, signatures, public_key)
    if problem:
        return _result(checkpoint, ledger_size, "bad signature", problem)
    found, root = ledger_root(ledger, checkpoint.tree_size)
    if found < checkpoint.tree_size:
        detail = (
            f"the checkpoint covers {checkpoint.tree_size} entries but the ledger holds "
            f"only {found} consecutive entries"
        )
        return _result(checkpoint, ledger_size, "ledger truncated", detail)
    if root != checkpoint.root_hash:
        detail = (
            f"the first {checkpoint.tree_size} entries have Merkle root "
            f"{base64.b64encode(root).decode()}, not the checkpoint's"
        )
        return _result(checkpoint, ledger_size, "ledger diverged", detail)
    return _result(checkpoint, ledger_size)


def _result(
    checkpoint: Checkpoint, ledger_size: int, reason: str | None = None, detail: str = ""
) -> CheckpointReport:
    root = base64.b64encode(checkpoint.root_hash).decode()
    return CheckpointReport(
        reason is None, checkpoint.origin, checkpoint.tree_size, root, ledger_size, reason, detail
    )


def _signature_problem(
    checkpoint: Checkpoint, signatures: list[NoteSignature], public_key: PublicKey
) -> str | None:
    message = checkpoint.body().encode()
    matching = [
        s for s in signatures if s.key_id == NoteKey.from_public_key(s.name, public_key).key_id
    ]
    if not matching:
        return "no signature line from the given key"
    for sig in matching:
        if not NoteKey.from_public_key(sig.name, public_key).verify(message, sig.signature):
            return f"signature by {sig.name} does not verify"
    return None

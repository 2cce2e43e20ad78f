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

The note itself (splitting, keys, key IDs, signature lines) is `ledger.note`: ECDSA (0x02)
for the studio's es256 key, Ed25519 (0x01) for an ed25519 signer.  The key name is the
origin; `NoteKey.verifier_key` gives the `name+keyid+base64` form Go's `sumdb/note` reads.
"""

from __future__ import annotations

import base64
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from provenance.errors import BadInputError, ChainBrokenError, LedgerError, SigningError
from provenance.ledger import _read, models
from provenance.ledger.merkle import merkle_root
from provenance.ledger.note import (
    EM_DASH,
    SIG_ECDSA,
    SIG_ED25519,
    NoteKey,
    NoteSignature,
    PublicKey,
    b64decode,
    load_public_key,
    signature_line,
    signed_note,
    split_note,
)
from provenance.ledger.repository import Ledger
from provenance.protocols import SignerPlugin

__all__ = [  # the note names are re-exported: callers read checkpoints through this module
    "EM_DASH",
    "SIG_ECDSA",
    "SIG_ED25519",
    "Checkpoint",
    "CheckpointReport",
    "NoteKey",
    "NoteSignature",
    "load_public_key",
    "make_checkpoint",
    "parse_note",
    "verify_checkpoint",
]

#: The origins Provenant writes: usable as note key names (no spaces, no '+').  Reading
#: accepts any non-empty origin, as the checkpoint spec tells clients to.
_ORIGIN = re.compile(r"^[^\s+\x00-\x1f]+$")
_SIZE = re.compile(r"^(0|[1-9][0-9]{0,18})$")


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


def parse_note(text: str) -> tuple[Checkpoint, list[NoteSignature]]:
    """Split and check a checkpoint note; `BadInputError` says what is malformed."""
    body, signatures = split_note(text, "checkpoint")
    lines = body.split("\n")[:-1]
    if len(lines) < 3:
        raise BadInputError("checkpoint: body must have origin, tree size and root hash lines")
    origin, size, root = lines[0], lines[1], lines[2]
    if not origin:  # any other origin is read as it is (c2sp.org/tlog-checkpoint)
        raise BadInputError(f"checkpoint: bad origin line {origin!r}")
    if not _SIZE.match(size):
        raise BadInputError(f"checkpoint: bad tree size {size!r}")
    root_hash = b64decode(root, "checkpoint: root hash")
    if len(root_hash) != 32:
        raise BadInputError("checkpoint: root hash is not 32 bytes")
    if "" in lines[3:]:
        raise BadInputError("checkpoint: empty extension line")
    checkpoint = Checkpoint(origin, int(size), root_hash, tuple(lines[3:]))
    return checkpoint, signatures


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
    return signed_note(checkpoint.body(), [signature_line(key, signature)])


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

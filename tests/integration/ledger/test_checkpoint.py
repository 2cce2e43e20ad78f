"""Signed checkpoints catch a ledger cut short or rewritten, even with every hash recomputed."""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from provenance.errors import ChainBrokenError, SigningError
from provenance.ledger import Ledger
from provenance.ledger.checkpoint import (
    EM_DASH,
    default_origin,
    ledger_root,
    make_checkpoint,
    parse_note,
    verify_checkpoint,
)
from provenance.ledger.merkle import leaf_hash, node_hash
from provenance.ledger.models import checkpoints
from tests.integration.ledger.samples import sample_asset

if TYPE_CHECKING:
    from conftest import KeySigner, RawSQL


def test_note_has_the_c2sp_shape_and_a_witness_style_ecdsa_signature(
    mixed_ledger: Ledger, signer: KeySigner
) -> None:
    note = make_checkpoint(mixed_ledger, signer, "example.com/ledger")
    body, sig_line = note.split("\n\n")
    origin, size, root = body.split("\n")
    assert (origin, size) == ("example.com/ledger", "6")
    hashes_ = [bytes.fromhex(e.row_hash) for e in mixed_ledger.iter_entries()]
    level = [leaf_hash(h) for h in hashes_]  # 6 leaves: ((01)(23))((45))
    expected = node_hash(
        node_hash(node_hash(level[0], level[1]), node_hash(level[2], level[3])),
        node_hash(level[4], level[5]),
    )
    assert base64.b64decode(root) == expected
    dash, name, blob = sig_line.rstrip("\n").split(" ")
    assert (dash, name) == (EM_DASH, "example.com/ledger")
    raw = base64.b64decode(blob)
    public = signer.key.public_key()
    spki = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert raw[:4] == hashlib.sha256(spki).digest()[:4]
    public.verify(raw[4:], (body + "\n").encode(), ec.ECDSA(hashes.SHA256()))  # raises if bad


def test_checkpoint_verifies_and_is_stored(mixed_ledger: Ledger, signer: KeySigner) -> None:
    note = make_checkpoint(mixed_ledger, signer)
    report = verify_checkpoint(mixed_ledger, note, signer.pem)
    assert report.ok and report.tree_size == 6 and report.ledger_size == 6
    assert report.origin == default_origin(mixed_ledger)
    assert verify_checkpoint(mixed_ledger, note, signer.public_pem).ok
    with mixed_ledger.engine.connect() as conn:
        stored = conn.execute(sa.select(checkpoints)).one()
    assert stored.note == note and stored.tree_size == 6
    assert stored.root_hash == parse_note(note)[0].root_hash.hex()


def test_growth_after_a_checkpoint_is_fine(mixed_ledger: Ledger, signer: KeySigner) -> None:
    note = make_checkpoint(mixed_ledger, signer)
    mixed_ledger.append_asset(sample_asset(50))
    report = verify_checkpoint(mixed_ledger, note, signer.pem)
    assert report.ok and report.ledger_size == 7


def test_truncation_is_detected(mixed_ledger: Ledger, signer: KeySigner, raw: RawSQL) -> None:
    note = make_checkpoint(mixed_ledger, signer)
    # Cut the last entry and fix the head so that the chain itself verifies.
    raw.run("DELETE FROM policy_decisions WHERE refusal_id = 'ref-000002'")
    raw.run("DELETE FROM refusals WHERE refusal_id = 'ref-000002'")
    raw.run(
        "UPDATE ledger_head SET seq = 5, head_hash = (SELECT row_hash FROM assets WHERE seq = 5)"
    )
    assert mixed_ledger.verify_chain().ok
    report = verify_checkpoint(mixed_ledger, note, signer.pem)
    assert not report.ok and report.reason == "ledger truncated"
    assert "only 5" in report.detail


def test_rewritten_history_is_detected(mixed_ledger: Ledger, signer: KeySigner) -> None:
    note = make_checkpoint(mixed_ledger, signer)
    with mixed_ledger.engine.begin() as conn:  # throw the history away...
        for table in ("policy_decisions", "attributions", "ingredients", "assets", "refusals"):
            conn.execute(sa.text(f"DELETE FROM {table}"))
        conn.execute(sa.text("UPDATE ledger_head SET seq = 0, head_hash = :g"), {"g": "0" * 64})
    for i in range(1, 8):  # ...and write a different one, every hash recomputed honestly
        mixed_ledger.append_asset(sample_asset(100 + i))
    assert mixed_ledger.verify_chain().ok
    report = verify_checkpoint(mixed_ledger, note, signer.pem)
    assert not report.ok and report.reason == "ledger diverged"


def test_bad_signature_and_wrong_key(
    mixed_ledger: Ledger, signer: KeySigner, make_signer: type[KeySigner]
) -> None:
    note = make_checkpoint(mixed_ledger, signer)
    forged = note.replace("\n6\n", "\n5\n")
    assert verify_checkpoint(mixed_ledger, forged, signer.pem).reason == "bad signature"
    other = make_signer("es256")
    report = verify_checkpoint(mixed_ledger, note, other.pem)
    assert not report.ok and "no signature line" in report.detail


def test_ed25519_signer(mixed_ledger: Ledger, make_signer: type[KeySigner]) -> None:
    ed = make_signer("ed25519")
    note = make_checkpoint(mixed_ledger, ed, "example.com/ed")
    name, blob = note.rstrip("\n").rsplit("\n", 1)[1].split(" ")[1:]
    raw_key = ed.key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + raw_key).digest()[:4]
    assert base64.b64decode(blob)[:4] == key_id
    assert verify_checkpoint(mixed_ledger, note, ed.pem).ok


def test_refuses_to_sign_a_broken_chain(
    mixed_ledger: Ledger, signer: KeySigner, raw: RawSQL
) -> None:
    raw.run("UPDATE assets SET prompt = 'edited' WHERE asset_id = 'ast-000002'")
    with pytest.raises(ChainBrokenError, match="refusing to sign"):
        make_checkpoint(mixed_ledger, signer)


def test_signer_with_unsupported_algorithm(mixed_ledger: Ledger, signer: KeySigner) -> None:
    class Liar:
        name = "liar"

        def algorithm(self) -> str:
            return "ps256"

        def certificate_chain_pem(self) -> bytes:
            return signer.pem

        def sign(self, data: bytes) -> bytes:
            return signer.sign(data)

    with pytest.raises(SigningError, match="does not fit"):
        make_checkpoint(mixed_ledger, Liar())


def test_empty_ledger_checkpoint(ledger: Ledger, signer: KeySigner) -> None:
    note = make_checkpoint(ledger, signer, "example.com/empty")
    assert note.split("\n")[1:3] == ["0", base64.b64encode(hashlib.sha256(b"").digest()).decode()]
    assert ledger_root(ledger, 0) == (0, hashlib.sha256(b"").digest())
    assert verify_checkpoint(ledger, note, signer.pem).ok

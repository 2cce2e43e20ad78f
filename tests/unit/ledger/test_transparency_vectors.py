"""Checkpoints against other transparency-log tooling's own test data (not hashes made here).

RFC 6962 roots and subtree hashes from transparency-dev/merkle; signed-note keys, notes and
signatures from Go's golang.org/x/mod/sumdb/note and sumdb/tlog (sources and licences in
tests/fixtures/transparency/README.md).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from provenance.errors import BadInputError
from provenance.ledger.checkpoint import Checkpoint, parse_note
from provenance.ledger.merkle import leaf_hash, merkle_root
from provenance.ledger.note import NoteKey, signature_line, signed_note, split_note

VECTORS = Path(__file__).resolve().parents[2] / "fixtures" / "transparency"
MERKLE: dict[str, Any] = json.loads((VECTORS / "rfc6962_merkle.json").read_text())
SUMDB: dict[str, Any] = json.loads((VECTORS / "sumdb.json").read_text())
NOTE = SUMDB["note"]
LEAVES = [bytes.fromhex(h) for h in MERKLE["leaf_inputs"]]


@pytest.mark.parametrize("size", range(len(MERKLE["root_hashes"])))
def test_root_of_every_size_matches_the_reference_tree(size: int) -> None:
    assert merkle_root(LEAVES[:size]) == (size, bytes.fromhex(MERKLE["root_hashes"][size]))


def test_every_complete_subtree_matches_the_reference_tree() -> None:
    for level, hashes in enumerate(MERKLE["node_hashes"]):
        width = 2**level
        for index, expected in enumerate(hashes):
            leaves = LEAVES[index * width : (index + 1) * width]
            assert merkle_root(leaves)[1].hex() == expected, (level, index)
    assert [leaf_hash(d).hex() for d in LEAVES] == MERKLE["node_hashes"][0]


def test_checkpoint_body_is_the_go_tree_note() -> None:
    """A tlog tree note is origin, size and base64 root: exactly a checkpoint body."""
    tree = SUMDB["tree_note"]
    record = leaf_hash(tree["record"].encode())  # tlog.RecordHash
    checkpoint = Checkpoint(tree["origin"], tree["tree_size"], record)
    assert checkpoint.body() == tree["text"]
    parsed, _ = parse_note(tree["text"] + "\n" + signature_line(_peter(), b"x" * 64))
    assert parsed == checkpoint


def _peter_private() -> ed25519.Ed25519PrivateKey:
    """The seed inside Go's `PRIVATE+KEY+<name>+<id>+base64(0x01 || seed)` signer key."""
    _, _, name, key_id, encoded = NOTE["signer_key"].split("+", 4)
    assert (name, key_id) == ("PeterNeumann", "c74f20a3")
    material = base64.b64decode(encoded)
    assert material[0] == 0x01 and len(material) == 33
    return ed25519.Ed25519PrivateKey.from_private_bytes(material[1:])


def _peter() -> NoteKey:
    return NoteKey.from_public_key("PeterNeumann", _peter_private().public_key())


def test_key_ids_and_verifier_keys_match_sumdb_note() -> None:
    """Key ID = SHA-256(name || 0x0A || 0x01 || public key)[:4], as Go derives it."""
    assert _peter().key_id.hex() == "c74f20a3"
    assert _peter().verifier_key() == NOTE["verifier_keys"]["PeterNeumann"]
    for name, vkey in NOTE["verifier_keys"].items():
        key = NoteKey.from_verifier_key(vkey)
        assert key.name == name and key.verifier_key() == vkey


def test_a_note_signed_by_go_verifies() -> None:
    text, signatures = split_note(NOTE["signed_by_peter"])
    assert text == NOTE["text"]
    (signature,) = signatures
    key = NoteKey.from_verifier_key(NOTE["verifier_keys"]["PeterNeumann"])
    assert (signature.name, signature.key_id) == (key.name, key.key_id)
    assert key.verify(text.encode(), signature.signature)
    assert not key.verify(text.encode() + b"!", signature.signature)


def test_a_note_with_two_go_signers_verifies_both() -> None:
    lines = "".join(f"\u2014 {name} {sig}\n" for name, sig in NOTE["signatures"].items())
    text, signatures = split_note(NOTE["text"] + "\n" + lines)
    for signature in signatures:
        key = NoteKey.from_verifier_key(NOTE["verifier_keys"][signature.name])
        assert signature.key_id == key.key_id and key.verify(text.encode(), signature.signature)


def test_signing_as_go_does_gives_the_same_bytes() -> None:
    """Ed25519 is deterministic: our note format must reproduce Go's `Sign` byte for byte."""
    signature = _peter_private().sign(NOTE["text"].encode())
    note = signed_note(NOTE["text"], [signature_line(_peter(), signature)])
    assert note == NOTE["signed_by_peter"]


@pytest.mark.parametrize(
    "note",
    [  # the malformed notes Go's note.Open refuses (sumdb/note/note_test.go, TestOpen)
        NOTE["text"],
        NOTE["text"] + "\n",
        NOTE["signed_by_peter"][:-1],
        "\x01" + NOTE["signed_by_peter"],
        NOTE["text"] + "\n\u2014 Bad Name " + NOTE["signatures"]["PeterNeumann"] + "\n",
        NOTE["signed_by_peter"] + "Unexpected line.\n",
        NOTE["text"] + "\n" + NOTE["signed_by_peter"].split("\n\n")[1] * 101,
    ],
)
def test_notes_go_refuses_are_refused(note: str) -> None:
    with pytest.raises(BadInputError):
        split_note(note)


@pytest.mark.parametrize(
    "vkey",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong key ID
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # unknown type
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",  # short key
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # space in name
    ],
)
def test_bad_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(BadInputError):
        NoteKey.from_verifier_key(vkey)


def test_our_ed25519_verifier_key_round_trips_through_the_go_form() -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    key = NoteKey.from_public_key("provenant.local/ledger/x", private.public_key())
    again = NoteKey.from_verifier_key(key.verifier_key())
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    assert again.public_key.public_bytes(*raw) == private.public_key().public_bytes(*raw)
    assert again.key_id == key.key_id

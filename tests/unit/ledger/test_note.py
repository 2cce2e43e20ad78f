"""Checkpoint notes: parsing, key IDs and the verifier-key form, without a database."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from provenance.errors import BadInputError, SigningError
from provenance.ledger.checkpoint import (
    EM_DASH,
    SIG_ECDSA,
    SIG_ED25519,
    Checkpoint,
    NoteKey,
    load_public_key,
    parse_note,
)

ROOT = base64.b64encode(bytes(range(32))).decode()
SIG = base64.b64encode(b"abcdsig").decode()
GOOD = f"example.com/log\n42\n{ROOT}\n\n{EM_DASH} example.com/log {SIG}\n"


def test_parse_round_trip() -> None:
    checkpoint, signatures = parse_note(GOOD)
    assert checkpoint == Checkpoint("example.com/log", 42, bytes(range(32)))
    assert checkpoint.body() == GOOD.split("\n\n")[0] + "\n"
    assert [(s.name, s.key_id, s.signature) for s in signatures] == [
        ("example.com/log", b"abcd", b"sig")
    ]


def test_extension_lines_are_kept_in_the_signed_body() -> None:
    note = GOOD.replace(f"{ROOT}\n", f"{ROOT}\nextension line\n")
    checkpoint, _ = parse_note(note)
    assert checkpoint.extensions == ("extension line",)
    assert checkpoint.body().endswith("extension line\n")


@pytest.mark.parametrize(
    ("note", "message"),
    [
        ("", "no blank line"),
        (GOOD.replace("\n\n", "\n"), "no blank line"),
        (GOOD.replace("42", "042"), "bad tree size"),
        (GOOD.replace("42", "-1"), "bad tree size"),
        (GOOD.replace("example.com/log\n42", "\n42"), "bad origin"),
        (GOOD.replace(f"{ROOT}\n", f"{ROOT}\n\next\n"), "empty extension line"),
        (GOOD.replace(ROOT, "not base64!"), "root hash is not base64"),
        (GOOD.replace(ROOT, base64.b64encode(b"short").decode()), "not 32 bytes"),
        (GOOD.replace(EM_DASH, "--"), "bad signature line"),
        (GOOD.replace(f" example.com/log {SIG}", f" {SIG}"), "bad signature line"),
        (GOOD.replace("YWJjZHNpZw==", "YWI="), "signature too short"),
        (GOOD.replace("42", "4\x072"), "control characters"),
    ],
)
def test_malformed_notes_are_named(note: str, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        parse_note(note)


def test_ecdsa_key_id_is_the_spki_hash() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    note_key = NoteKey.from_public_key("a.example/log", key)
    assert note_key.sig_type == SIG_ECDSA
    assert note_key.key_id == hashlib.sha256(spki).digest()[:4]
    name, key_hash, material = note_key.verifier_key().split("+", 2)  # base64 may hold "+"
    assert (name, key_hash) == ("a.example/log", note_key.key_id.hex())
    assert base64.b64decode(material) == bytes([SIG_ECDSA]) + spki


def test_ed25519_key_id_includes_the_name() -> None:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    one = NoteKey.from_public_key("one", key)
    assert one.sig_type == SIG_ED25519
    assert one.key_id == hashlib.sha256(b"one\n\x01" + raw).digest()[:4]
    assert NoteKey.from_public_key("two", key).key_id != one.key_id


def test_unsupported_keys_are_refused() -> None:
    with pytest.raises(SigningError, match="P-256"):
        NoteKey.from_public_key("x", ec.generate_private_key(ec.SECP384R1()).public_key())
    with pytest.raises(SigningError, match="not a PEM"):
        load_public_key(b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")

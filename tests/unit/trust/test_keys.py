"""Development CA, key files and the certificate rules checked before signing."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest
from cryptography import x509

from provenance.credentials.keys import (
    DevCredentials,
    check_key_file_permissions,
    check_key_matches_certificate,
    check_signing_certificate,
    create_dev_ca,
    describe_certificate,
    ensure_prompt_salt,
    load_certificate_chain,
    load_private_key,
    salt_id,
)
from provenance.errors import CertificateError, KeyFileError


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_dev_ca_writes_a_chain_that_passes_the_signing_checks(tmp_path: Path) -> None:
    creds = create_dev_ca(tmp_path / "keys", "Harbour Films")
    chain = load_certificate_chain(creds.signing_chain)
    assert len(chain) == 2
    leaf, intermediate = chain
    root = load_certificate_chain(creds.root_cert)[0]
    assert leaf.issuer == intermediate.subject and intermediate.issuer == root.subject
    check_signing_certificate(chain)
    for cert in (leaf, intermediate, root):
        assert "DEVELOPMENT ONLY" in cert.subject.rfc4514_string()
        assert "Harbour Films" in cert.subject.rfc4514_string()
    ekus = {
        o.dotted_string
        for o in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    }
    assert {"1.3.6.1.5.5.7.3.4", "1.3.6.1.5.5.7.3.36"} <= ekus
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    ca_usage = intermediate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ca_usage.key_cert_sign and ca_usage.crl_sign
    key = load_private_key(creds.signing_key, None)
    check_key_matches_certificate(key, leaf)


def test_keys_are_0600_and_certificates_0644_even_with_an_open_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        creds = create_dev_ca(tmp_path / "keys")
    finally:
        os.umask(old)
    for key in (creds.root_key, creds.intermediate_key, creds.signing_key):
        assert _mode(key) == 0o600, key
    for cert in (creds.root_cert, creds.intermediate_cert, creds.signing_chain):
        assert _mode(cert) == 0o644, cert
    assert _mode(tmp_path / "keys") == 0o700
    assert not [p for p in (tmp_path / "keys").iterdir() if p.name.endswith(".tmp")]


def test_existing_keys_are_never_replaced_without_force(tmp_path: Path) -> None:
    creds = create_dev_ca(tmp_path / "keys")
    before = creds.signing_key.read_bytes()
    with pytest.raises(KeyFileError, match=r"already exist.*--force"):
        create_dev_ca(tmp_path / "keys")
    assert creds.signing_key.read_bytes() == before
    create_dev_ca(tmp_path / "keys", force=True)
    assert creds.signing_key.read_bytes() != before


def test_dev_credentials_lists_existing_files(tmp_path: Path) -> None:
    creds = DevCredentials.at(tmp_path)
    assert creds.existing() == []
    create_dev_ca(tmp_path)
    assert creds.existing() == creds.paths()


def test_passphrase_protected_key(tmp_path: Path, th) -> None:
    chain = th.make_chain()
    _, key_path, _ = chain.write(tmp_path, passphrase=b"s3cret")
    key = load_private_key(key_path, b"s3cret")
    check_key_matches_certificate(key, chain.leaf)
    with pytest.raises(KeyFileError, match="passphrase-protected; set MY_PASS"):
        load_private_key(key_path, None, passphrase_env="MY_PASS")
    with pytest.raises(KeyFileError, match="wrong passphrase") as wrong:
        load_private_key(key_path, b"nope")
    assert wrong.value.__cause__ is None  # nothing of the key rides along in a traceback
    for fragment in th.key_fragments(key_path.read_bytes()):
        assert fragment not in str(wrong.value)


def test_unreadable_or_garbage_key_files(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="private key not found"):
        load_private_key(tmp_path / "missing.pem", None)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(KeyFileError, match="not a PEM private key") as err:
        load_private_key(garbage, None)
    assert "AAAA" not in str(err.value)


def test_group_or_world_readable_key_is_refused_with_the_fix(tmp_path: Path) -> None:
    creds = create_dev_ca(tmp_path / "keys")
    check_key_file_permissions(creds.signing_key)
    creds.signing_key.chmod(0o644)
    with pytest.raises(KeyFileError) as err:
        check_key_file_permissions(creds.signing_key)
    assert f"chmod 600 {creds.signing_key}" in str(err.value)
    creds.signing_key.chmod(0o640)
    with pytest.raises(KeyFileError, match="mode 0640"):
        check_key_file_permissions(creds.signing_key)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"leaf_days": (-400, -1)}, "signing certificate .* expired on"),
        ({"leaf_days": (2, 400)}, "signing certificate .* is not valid until"),
        ({"digital_signature": False}, "lacks KeyUsage digitalSignature"),
        ({"ekus": None}, "lacks a C2PA signing ExtendedKeyUsage"),
        ({"ekus": ["1.3.6.1.5.5.7.3.1"]}, "lacks a C2PA signing ExtendedKeyUsage"),
        ({"leaf_is_ca": True}, "is a CA certificate"),
        ({"intermediate_days": (-400, -2)}, "intermediate certificate .* expired"),
    ],
)
def test_certificates_c2pa_would_reject_are_refused(th, changes: dict, message: str) -> None:
    chain = th.make_chain(**changes)
    with pytest.raises(CertificateError, match=message):
        check_signing_certificate([chain.leaf, chain.intermediate])


@pytest.mark.parametrize(
    "eku", ["1.3.6.1.5.5.7.3.4", "1.3.6.1.5.5.7.3.36", "1.3.6.1.4.1.62558.2.1"]
)
def test_each_c2pa_signing_eku_is_enough(th, eku: str) -> None:
    chain = th.make_chain(ekus=[eku])
    check_signing_certificate([chain.leaf, chain.intermediate])


def test_validity_is_judged_at_the_given_time(th) -> None:
    chain = th.make_chain(leaf_days=(-1, 30))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=60)
    with pytest.raises(CertificateError, match="expired"):
        check_signing_certificate([chain.leaf, chain.intermediate], now=later)


def test_chain_out_of_order_and_empty_chain(th) -> None:
    chain = th.make_chain()
    with pytest.raises(CertificateError, match="out of order"):
        check_signing_certificate([chain.leaf, chain.root])
    with pytest.raises(CertificateError, match="empty"):
        check_signing_certificate([])


def test_key_that_is_not_the_certificates_is_refused(th) -> None:
    one, other = th.make_chain(), th.make_chain()
    with pytest.raises(KeyFileError, match="does not belong"):
        check_key_matches_certificate(other.leaf_key, one.leaf)


def test_chain_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(CertificateError, match=r"missing\.pem: certificate chain not found"):
        load_certificate_chain(tmp_path / "missing.pem")
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(CertificateError, match=r"bad\.pem"):
        load_certificate_chain(bad)


def test_describe_certificate(th) -> None:
    chain = th.make_chain(name="Described")
    info = describe_certificate(chain.leaf)
    assert info["subject"] == chain.leaf.subject.rfc4514_string()
    assert info["issuer"] == chain.intermediate.subject.rfc4514_string()
    assert int(info["serial"], 16) == chain.leaf.serial_number
    assert dt.datetime.fromisoformat(info["not_after"]) == chain.leaf.not_valid_after_utc
    assert len(info["sha256_fingerprint"]) == 64 and info["is_ca"] is False


def test_prompt_salt_is_created_once_private_and_stable(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    salt = ensure_prompt_salt(keys)
    assert len(salt) == 32 and _mode(keys / "prompt-salt") == 0o600
    assert ensure_prompt_salt(keys) == salt
    assert salt_id(salt) != salt_id(b"x" * 32)
    (keys / "prompt-salt").chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        ensure_prompt_salt(keys)

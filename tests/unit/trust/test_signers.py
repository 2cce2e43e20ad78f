"""The local signer plugin and `open_signer`: bad credentials fail before any work."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from provenance.config import Settings
from provenance.credentials import signers
from provenance.credentials.signers import LocalKeySigner, open_signer
from provenance.errors import CertificateError, ConfigError, KeyFileError, UnknownSignerError


def _settings(home: Path, chain: Path, key: Path, **signing: Any) -> Settings:
    overrides = {"signing": {"certificate_chain": str(chain), "private_key": str(key), **signing}}
    return Settings.load(home=home, env={}, overrides=overrides)


def _verify_raw(public_key: Any, algorithm: str, signature: bytes, data: bytes) -> None:
    """Check a COSE-style raw signature with the public key (raises if it does not verify)."""
    if algorithm.startswith("es"):
        half = len(signature) // 2
        r, s = int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
        digest = {"es256": hashes.SHA256(), "es384": hashes.SHA384()}[algorithm]
        public_key.verify(encode_dss_signature(r, s), data, ec.ECDSA(digest))
    elif algorithm == "ps256":
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        public_key.verify(signature, data, pss, hashes.SHA256())
    else:
        public_key.verify(signature, data)


@pytest.mark.parametrize(
    ("key_kind", "algorithm", "width"),
    [
        ("p256", "es256", 64),
        ("p384", "es384", 96),
        ("rsa", "ps256", 256),
        ("ed25519", "ed25519", 64),
    ],
)
def test_local_signer_signs_raw_cose_signatures(
    home: Path, th, key_kind: str, algorithm: str, width: int
) -> None:
    chain = th.make_chain(key_kind=key_kind)
    chain_path, key_path, _ = chain.write(home / "creds")
    signer = LocalKeySigner(_settings(home, chain_path, key_path))
    assert signer.algorithm() == algorithm
    assert signer.certificate_chain_pem() == chain.chain_pem
    signature = signer.sign(b"claim bytes")
    assert len(signature) == width
    _verify_raw(chain.leaf.public_key(), algorithm, signature, b"claim bytes")


def test_configured_algorithm_must_fit_the_key(home: Path, th) -> None:
    chain_path, key_path, _ = th.make_chain(key_kind="p384").write(home / "creds")
    with pytest.raises(ConfigError, match="signs es384"):
        LocalKeySigner(_settings(home, chain_path, key_path, algorithm="es256"))


def test_world_readable_key_fails_at_construction(home: Path, th) -> None:
    chain_path, key_path, _ = th.make_chain().write(home / "creds")
    key_path.chmod(0o644)
    with pytest.raises(KeyFileError, match=f"chmod 600 {key_path}"):
        LocalKeySigner(_settings(home, chain_path, key_path))


def test_passphrase_comes_from_the_configured_env_var(
    home: Path, th, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain_path, key_path, _ = th.make_chain().write(home / "creds", passphrase=b"open sesame")
    settings = _settings(home, chain_path, key_path, passphrase_env="STUDIO_KEY_PASS")
    with pytest.raises(KeyFileError, match="passphrase-protected; set STUDIO_KEY_PASS"):
        LocalKeySigner(settings)
    monkeypatch.setenv("STUDIO_KEY_PASS", "wrong")
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        LocalKeySigner(settings)
    monkeypatch.setenv("STUDIO_KEY_PASS", "open sesame")
    assert LocalKeySigner(settings).sign(b"x")


@pytest.mark.parametrize(
    "changes", [{"leaf_days": (-400, -1)}, {"leaf_days": (3, 400)}, {"ekus": None}]
)
def test_bad_certificates_fail_at_construction(home: Path, th, changes: dict) -> None:
    chain_path, key_path, _ = th.make_chain(**changes).write(home / "creds")
    with pytest.raises(CertificateError):
        LocalKeySigner(_settings(home, chain_path, key_path))


def test_key_of_another_certificate_fails_at_construction(home: Path, th) -> None:
    chain_path, _, _ = th.make_chain().write(home / "a")
    _, other_key, _ = th.make_chain().write(home / "b")
    with pytest.raises(KeyFileError, match="does not belong"):
        LocalKeySigner(_settings(home, chain_path, other_key))


def test_private_key_never_leaks(
    home: Path, th, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    chain = th.make_chain()
    chain_path, key_path, _ = chain.write(home / "creds", passphrase=b"pw")
    fragments = th.key_fragments(key_path.read_bytes()) + th.key_fragments(chain.key_pem())
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    settings = _settings(home, chain_path, key_path)
    for env in (None, "bad"):
        if env:
            monkeypatch.setenv("PROVENANT_KEY_PASSPHRASE", env)
        with pytest.raises(KeyFileError) as err:
            LocalKeySigner(settings)
        seen += [str(err.value), repr(err.value), err.value.diagnostics()]
    monkeypatch.setenv("PROVENANT_KEY_PASSPHRASE", "pw")
    signer = LocalKeySigner(settings)
    seen += [repr(signer), str(signer), repr(vars(signer)), caplog.text]
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(signer)
    text = "\n".join(seen)
    assert fragments and not [f for f in fragments if f in text]
    assert "PRIVATE KEY" not in text


class _PluginSigner:
    """A stand-in KMS signer: a valid-looking plugin whose certificate has expired."""

    name: ClassVar[str] = "kms"
    chain_pem: ClassVar[bytes] = b""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def algorithm(self) -> str:
        return "es256"

    def certificate_chain_pem(self) -> bytes:
        return self.chain_pem

    def sign(self, data: bytes) -> bytes:
        raise AssertionError("must not be asked to sign")


def test_open_signer_checks_any_plugins_certificate(
    home: Path, th, monkeypatch: pytest.MonkeyPatch
) -> None:
    expired = th.make_chain(leaf_days=(-30, -1))
    plugin = type("ExpiredKms", (_PluginSigner,), {"chain_pem": expired.chain_pem})
    monkeypatch.setattr(signers, "get_signer", lambda name: plugin)
    settings = Settings.load(home=home, env={}, overrides={"signing": {"signer": "kms"}})
    with pytest.raises(CertificateError, match="expired"):
        open_signer(settings)
    valid = type("ValidKms", (_PluginSigner,), {"chain_pem": th.make_chain().chain_pem})
    monkeypatch.setattr(signers, "get_signer", lambda name: valid)
    assert open_signer(settings).algorithm() == "es256"


def test_open_signer_unknown_plugin_lists_installed(home: Path) -> None:
    settings = Settings.load(home=home, env={}, overrides={"signing": {"signer": "nope"}})
    with pytest.raises(UnknownSignerError, match=r"installed: .*local"):
        open_signer(settings)


def test_open_signer_local_with_dev_ca(settings: Settings) -> None:
    signer = open_signer(settings)
    assert signer.name == "local" and signer.algorithm() == "es256"

"""Signer plugins: who produces the raw signature over a C2PA claim.

`LocalKeySigner` (entry point `local`) signs with a PEM key on disk; KMS/HSM signers are
third-party plugins registered under `provenant.signers`.  Whatever the plugin,
`open_signer` checks its certificate chain before it is used, so an expired or
wrongly-extended certificate fails when the signer opens, not in a verifier's hands later.

The private key lives only inside a closure of the signer: it is not an attribute, so it
cannot leak through `repr`, `vars()`, logging or error messages.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from provenance.credentials.keys import (
    PrivateKey,
    check_key_file_permissions,
    check_key_matches_certificate,
    check_signing_certificate,
    load_certificate_chain,
    load_private_key,
    parse_certificate_chain,
)
from provenance.errors import ConfigError, KeyFileError
from provenance.plugins import get_signer

if TYPE_CHECKING:
    from provenance.config import Settings
    from provenance.protocols import SignerPlugin

#: COSE algorithms c2pa accepts, by the name both c2pa and our settings use.
ALGORITHMS = ("es256", "es384", "es512", "ps256", "ed25519")
_EC_ALGORITHMS = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
_EC_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "es256": hashes.SHA256,
    "es384": hashes.SHA384,
    "es512": hashes.SHA512,
}
_MIN_RSA_BITS = 2048


def algorithm_for_key(key: PrivateKey, where: Path) -> str:
    """The COSE algorithm a key signs with (the key decides; P-384 means es384)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        alg = _EC_ALGORITHMS.get(key.curve.name)
        if alg is None:
            raise KeyFileError(f"{where}: EC curve {key.curve.name} is not allowed by C2PA")
        return alg
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < _MIN_RSA_BITS:
            raise KeyFileError(f"{where}: RSA key of {key.key_size} bits is too small")
        return "ps256"
    return "ed25519"


def raw_signature_function(key: PrivateKey, algorithm: str) -> Callable[[bytes], bytes]:
    """A function signing bytes as COSE wants them: ECDSA as fixed-width r||s, PSS, Ed25519."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        digest = _EC_HASHES[algorithm]
        width = (key.curve.key_size + 7) // 8

        def sign_ecdsa(data: bytes) -> bytes:
            r, s = decode_dss_signature(key.sign(data, ec.ECDSA(digest())))
            return r.to_bytes(width, "big") + s.to_bytes(width, "big")

        return sign_ecdsa
    if isinstance(key, rsa.RSAPrivateKey):
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)

        def sign_pss(data: bytes) -> bytes:
            return key.sign(data, pss, hashes.SHA256())

        return sign_pss
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign
    raise KeyFileError(f"unsupported key type {type(key).__name__}")


def _passphrase(env_name: str) -> bytes | None:
    value = os.environ.get(env_name)
    return value.encode("utf-8") if value else None


class LocalKeySigner:
    """Signs with a PEM private key and certificate chain on disk (`[signing]` settings).

    Everything that can be wrong with the credentials (permissions, passphrase, validity,
    extensions, a key that is not the certificate's) is checked here, at construction, so a
    bad key fails before any image is generated.
    """

    name: ClassVar[str] = "local"

    def __init__(self, settings: Settings) -> None:
        self._chain_path = settings.chain_path
        chain = load_certificate_chain(self._chain_path)
        check_signing_certificate(chain)
        key_path = settings.key_path
        check_key_file_permissions(key_path)
        env_name = settings.signing.passphrase_env
        key = load_private_key(key_path, _passphrase(env_name), passphrase_env=env_name)
        check_key_matches_certificate(key, chain[0])
        self._algorithm = algorithm_for_key(key, key_path)
        configured = settings.signing.algorithm
        if "algorithm" in settings.signing.model_fields_set and configured != self._algorithm:
            raise ConfigError(
                f"signing.algorithm = {configured!r} does not fit the key at {key_path} "
                f"(it signs {self._algorithm})"
            )
        self._sign = raw_signature_function(key, self._algorithm)
        self._chain_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)

    def __repr__(self) -> str:
        return f"LocalKeySigner(chain={str(self._chain_path)!r}, algorithm={self._algorithm!r})"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("LocalKeySigner holds a private key and cannot be pickled")

    def algorithm(self) -> str:
        """COSE algorithm name as c2pa spells it."""
        return self._algorithm

    def certificate_chain_pem(self) -> bytes:
        """Signing certificate first, then intermediates, PEM."""
        return self._chain_pem

    def sign(self, data: bytes) -> bytes:
        """Raw signature over the claim bytes c2pa hands us."""
        return self._sign(data)


def open_signer(settings: Settings) -> SignerPlugin:
    """Instantiate the configured signer plugin and check its certificate chain.

    The check runs for every plugin, so a KMS/HSM signer with an expired certificate is
    refused exactly like a local key.
    """
    name = settings.signing.signer
    signer: SignerPlugin = get_signer(name)(settings)
    algorithm = signer.algorithm()
    if algorithm not in ALGORITHMS:
        raise ConfigError(
            f"signer {name!r} uses algorithm {algorithm!r}; c2pa supports {', '.join(ALGORITHMS)}"
        )
    chain = parse_certificate_chain(signer.certificate_chain_pem(), f"signer {name!r} chain")
    check_signing_certificate(chain)
    return signer

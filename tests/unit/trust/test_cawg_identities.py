"""CAWG identity assertions: reading them from c2pa's JSON, and their chains to CAWG anchors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provenance.verify.cawg_chain import (
    ChainProblem,
    anchoring_subject,
    credential_chain,
)
from provenance.verify.identities import apply_identities, read_identities
from provenance.verify.report import State, VerificationReport

NOW = datetime.now(UTC)
Key = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@dataclass
class Issued:
    cert: x509.Certificate
    key: Key


def _cert(
    name: str,
    issuer: Issued | None = None,
    *,
    ca: bool = False,
    eku: list[x509.ObjectIdentifier] | None = None,
    edwards: bool = False,
    days: tuple[int, int] = (-1, 30),
) -> Issued:
    key: Key = (
        ed25519.Ed25519PrivateKey.generate() if edwards else ec.generate_private_key(ec.SECP256R1())
    )
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + timedelta(days=days[0]))
        .not_valid_after(NOW + timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    signing_key = issuer.key if issuer else key
    algorithm = None if isinstance(signing_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return Issued(builder.sign(signing_key, algorithm), key)


EMAIL = [ExtendedKeyUsageOID.EMAIL_PROTECTION]


@pytest.fixture(scope="module")
def pki() -> dict[str, Issued]:
    root = _cert("Identity Root", ca=True, edwards=True)
    inter = _cert("Identity Intermediate", root, ca=True, edwards=True)
    return {
        "root": root,
        "inter": inter,
        "leaf": _cert("Ana Example", inter, eku=EMAIL, edwards=True),
        "other_root": _cert("Identity Root", ca=True),  # same name, other key
    }


def test_a_chain_reaches_its_root_or_an_intermediate_anchor(pki: dict[str, Issued]) -> None:
    chain = [pki["leaf"].cert, pki["inter"].cert]
    assert anchoring_subject(chain, [pki["root"].cert]) == "CN=Identity Root"
    assert anchoring_subject(chain, [pki["inter"].cert]) == "CN=Identity Intermediate"
    with_root = [*chain, pki["root"].cert]
    assert anchoring_subject(with_root, [pki["root"].cert]) == "CN=Identity Root"


def test_an_anchor_of_the_same_name_but_another_key_is_not_the_issuer(
    pki: dict[str, Issued],
) -> None:
    chain = [pki["leaf"].cert, pki["inter"].cert]
    with pytest.raises(ChainProblem, match="its key did not sign it"):
        anchoring_subject(chain, [pki["other_root"].cert])


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("expired", "not now"),
        ("no_eku", "no extended key usage"),
        ("server_eku", "not for emailProtection or documentSigning"),
        ("issuer_not_ca", "is not signed by the CA"),
        ("foreign_link", "is not signed by the CA"),
    ],
)
def test_chains_that_do_not_qualify(pki: dict[str, Issued], case: str, message: str) -> None:
    inter, root = pki["inter"], pki["root"]
    if case == "issuer_not_ca":
        issuer = _cert("Not a CA", root)
        leaf = _cert("Leaf", issuer, eku=EMAIL)
    elif case == "foreign_link":  # signed by another CA than the one that follows it
        issuer, leaf = inter, _cert("Leaf", _cert("Elsewhere", ca=True), eku=EMAIL)
    else:
        issuer = inter
        leaf = {
            "expired": lambda: _cert("Old", inter, eku=EMAIL, edwards=True, days=(-30, -1)),
            "no_eku": lambda: _cert("No EKU", inter, edwards=True),
            "server_eku": lambda: _cert("TLS", inter, eku=[ExtendedKeyUsageOID.SERVER_AUTH]),
        }[case]()
    with pytest.raises(ChainProblem, match=message):
        anchoring_subject([leaf.cert, issuer.cert], [root.cert])


def test_the_chain_comes_from_the_cose_x5chain_header(pki: dict[str, Issued]) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    der = [
        pki["leaf"].cert.public_bytes(Encoding.DER),
        pki["inter"].cert.public_bytes(Encoding.DER),
    ]
    as_list = cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps({1: -8, 33: der}), {}, None, b"sig"]))
    assert [c.subject for c in credential_chain(list(as_list))] == [
        pki["leaf"].cert.subject,
        pki["inter"].cert.subject,
    ]
    single = cbor2.dumps([cbor2.dumps({1: -8}), {33: der[0]}, None, b"sig"])
    import base64

    (only,) = credential_chain(base64.b64encode(single).decode())
    assert only.subject == pki["leaf"].cert.subject
    for broken in ("not base64!", base64.b64encode(b"\x00").decode(), [1, 2, 3]):
        with pytest.raises(ChainProblem):
            credential_chain(broken)


def _store(codes: list[tuple[str, str, str]]) -> dict[str, Any]:
    """c2pa's JSON for one manifest with one identity assertion and the given codes."""
    label = "urn:c2pa:test"
    base = f"self#jumbf=/c2pa/{label}"
    results: dict[str, list[dict[str, str]]] = {"success": [], "failure": [], "informational": []}
    for kind, code, where in codes:
        results[kind].append({"code": code, "url": f"{base}/{where}", "explanation": ""})
    identity = {
        "label": "cawg.identity",
        "data": {
            "signer_payload": {
                "sig_type": "cawg.x509.cose",
                "referenced_assertions": [{"url": "self#jumbf=c2pa.assertions/c2pa.hash.data"}],
            },
            "signature_info": {"common_name": "Ana Example", "issuer": "Example Org"},
        },
    }
    return {
        "active_manifest": label,
        "manifests": {label: {"assertions": [identity]}},
        "validation_results": {"activeManifest": results},
    }


def _never() -> str:
    raise AssertionError("the detailed JSON is read only when CAWG anchors could decide")


ID = "c2pa.assertions/cawg.identity"
SIG = "c2pa.signature"


@pytest.mark.parametrize(
    ("codes", "trust"),
    [
        ([("success", "cawg.x509.credential.trusted", ID)], "trusted"),
        ([("failure", "cawg.x509.credential.untrusted", ID)], "untrusted"),
        # c2pa before the CAWG 1.3 codes reused the claim signer's code on the identity URL
        ([("failure", "signingCredential.untrusted", ID)], "untrusted"),
        ([("failure", "cawg.x509.signature.mismatch", ID)], "invalid"),
        ([("success", "cawg.identity.well-formed", ID)], "unverified"),
        ([("failure", "signingCredential.untrusted", SIG)], "unverified"),
    ],
)
def test_identity_trust_comes_from_the_codes_on_its_own_url(
    codes: list[tuple[str, str, str]], trust: str
) -> None:
    (identity,) = read_identities(_store(codes), _never)
    assert identity.trust == trust
    assert identity.subject == "CN=Ana Example,O=Example Org"
    assert identity.referenced_assertions == ("c2pa.hash.data",)


def _report(store: dict[str, Any], state: State) -> VerificationReport:
    from provenance.verify.reading import _validation

    return VerificationReport(
        Path("x.jpg"),
        state,
        "c2pa's reason",
        validation_state="Valid",
        validation=_validation(store["validation_results"]["activeManifest"]),
        manifest_label=store["active_manifest"],
    )


def test_an_untrusted_signer_is_not_blamed_on_the_identity_or_the_other_way_round() -> None:
    store = _store(
        [
            ("failure", "signingCredential.untrusted", SIG),
            ("failure", "signingCredential.untrusted", ID),
        ]
    )
    report = apply_identities(_report(store, State.VALID_UNTRUSTED), read_identities(store, _never))
    assert report.signer_trust == "untrusted" and report.identities[0].trust == "untrusted"
    assert report.reason == "c2pa's reason"  # the signer's own problem: c2pa's words stand


def test_anchors_decide_only_after_c2pa_validated_the_signature(pki: dict[str, Issued]) -> None:
    store = _store(
        [
            ("success", "signingCredential.trusted", SIG),
            ("failure", "cawg.x509.credential.untrusted", ID),
        ]
    )
    (identity,) = read_identities(store, _never, [pki["root"].cert])
    assert identity.trust == "untrusted"
    assert identity.detail == "c2pa did not report its signature as validated"
    report = apply_identities(_report(store, State.VALID_UNTRUSTED), (identity,))
    assert report.state is State.VALID_UNTRUSTED and report.signer_trust == "trusted"
    assert report.reason.startswith("claim signer unknown signer is trusted")


@pytest.mark.parametrize(
    "data",
    [None, 7, "text", [], {"signer_payload": 3}, {"signer_payload": {"referenced_assertions": 9}}],
)
def test_identity_data_of_any_shape_is_read_without_failing(data: Any) -> None:
    store = _store([("failure", "cawg.x509.credential.untrusted", ID)])
    store["manifests"]["urn:c2pa:test"]["assertions"][0]["data"] = data
    (identity,) = read_identities(store, _never)
    assert identity.trust == "untrusted" and identity.referenced_assertions == ()

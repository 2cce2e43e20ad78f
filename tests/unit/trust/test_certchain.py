"""Reading the signer's certificate chain out of the file, robustly."""

from __future__ import annotations

from typing import Any

import hypothesis
import pytest
from cryptography import x509
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from provenance.keys import certificate_fingerprint, load_certificate_chain
from provenance.manifest import build_manifest
from provenance.signing import CredentialSigner
from provenance.verification.certchain import ChainUnavailable, certificate_chain


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_chain_matches_the_signing_chain(fmt, sign_image, settings, th) -> None:
    signed = sign_image(fmt)
    chain = certificate_chain(signed.data, th.MIME[fmt], signed.manifest_label)
    expected = load_certificate_chain(settings.chain_path)
    assert [certificate_fingerprint(c) for c in chain] == [
        certificate_fingerprint(c) for c in expected
    ]


def test_manifest_spread_over_many_jpeg_segments(settings, th) -> None:
    big = settings.manifest.model_copy(update={"thumbnail": True, "thumbnail_long_edge": 1024})
    with CredentialSigner.from_settings(settings.model_copy(update={"manifest": big})) as signer:
        data = th.image_bytes("jpeg", 1024, seed=1)
        signed = signer.sign(data, "image/jpeg", build_manifest(th.spec()))
    assert signed.data.count(b"\xff\xeb") > 2  # several APP11 segments
    chain = certificate_chain(signed.data, "image/jpeg", signed.manifest_label)
    assert chain[0].subject == load_certificate_chain(settings.chain_path)[0].subject


def test_files_without_a_store(th) -> None:
    for fmt in ("png", "jpeg", "webp"):
        with pytest.raises(ChainUnavailable):
            certificate_chain(th.image_bytes(fmt), th.MIME[fmt], "urn:c2pa:x")
    with pytest.raises(ChainUnavailable):
        certificate_chain(b"GIF89a", "image/gif", "x")


@pytest.fixture(scope="module")
def signed_png(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One signed PNG (module scope, for the fuzz test below)."""
    import importlib

    from provenance.config import Settings
    from provenance.keys import create_dev_ca

    helpers = importlib.import_module("provenant_trust_helpers")
    home = tmp_path_factory.mktemp("fuzz")
    create_dev_ca(home / "keys")
    with CredentialSigner.from_settings(Settings.load(home=home, env={})) as signer:
        return signer.sign(helpers.image_bytes(), "image/png", build_manifest(helpers.spec()))


@hypothesis.settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_damaged_stores_raise_only_chain_unavailable(signed_png, data) -> None:
    raw = bytearray(signed_png.data)
    store_at = raw.index(b"caBX")
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(store_at, min(len(raw) - 1, store_at + 20_000)))
        raw[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(store_at, len(raw)))
    try:
        chain = certificate_chain(bytes(raw[:cut]), "image/png", signed_png.manifest_label)
    except ChainUnavailable:
        return
    assert chain and all(isinstance(c, x509.Certificate) for c in chain)


@hypothesis.settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_damaged_files_never_raise_from_the_verifier(signed_png, tmp_path_factory, data) -> None:
    from provenance.config import Settings
    from provenance.verify import State, Verifier

    raw = bytearray(signed_png.data)
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    raw = raw[: data.draw(st.integers(0, len(raw)))]
    path = tmp_path_factory.mktemp("damaged") / "x.png"
    path.write_bytes(bytes(raw))
    verifier = Verifier(Settings.load(home=path.parent, env={}), details=True)
    report = verifier.verify_file(path)
    assert isinstance(report.state, State) and report.reason
    assert report.state is not State.TRUSTED  # no anchors configured: nothing is trusted

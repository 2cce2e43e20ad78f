"""Signing with c2pa: every format round-trips, ingredients validate, errors are typed."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from pathlib import Path
from typing import Any

import c2pa
import pytest

from provenance.credentials.manifest import build_manifest
from provenance.credentials.signing import CredentialSigner
from provenance.errors import BadInputError, SigningError


def _read(data: bytes, mime: str, settings: Any) -> dict[str, Any]:
    anchors = "".join(p.read_text() for p in settings.trust.anchors)
    context = c2pa.Context.from_dict({"trust": {"user_anchors": anchors}})
    with context, c2pa.Reader(mime, io.BytesIO(data), context=context) as reader:
        return json.loads(reader.json())


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_sign_round_trip_is_trusted(fmt: str, sign_image, settings, th) -> None:
    signed = sign_image(fmt)
    assert signed.sha256 == hashlib.sha256(signed.data).hexdigest()
    store = _read(signed.data, th.MIME[fmt], settings)
    assert store["validation_state"] == "Trusted"
    assert store["validation_results"]["activeManifest"]["failure"] == []
    assert store["active_manifest"] == signed.manifest_label
    assert signed.manifest_label.startswith("urn:c2pa:")
    manifest = store["manifests"][signed.manifest_label]
    labels = [a["label"] for a in manifest["assertions"]]
    assert {"c2pa.actions.v2", "org.provenant.generation", "cawg.training-mining"} <= set(labels)


def test_each_signature_gets_its_own_manifest_label(sign_image) -> None:
    assert sign_image().manifest_label != sign_image().manifest_label


def test_ingredients_are_recorded_and_validate(sign_image, settings, th, tmp_path: Path) -> None:
    parent = th.input_image(tmp_path, "photo.png", "parentOf")
    style = th.input_image(tmp_path, "style.png", "inputTo", seed=5)
    signed = sign_image("png", ingredients=[parent, style])
    store = _read(signed.data, "image/png", settings)
    assert store["validation_state"] == "Trusted"
    assert store["validation_results"]["activeManifest"]["failure"] == []
    for delta in store["validation_results"].get("ingredientDeltas", []):
        assert delta["validationDeltas"]["failure"] == []
    manifest = store["manifests"][signed.manifest_label]
    got = [
        (i["title"], i["relationship"], i["metadata"]["org.provenant.sha256"])
        for i in manifest["ingredients"]
    ]
    assert got == [
        ("photo.png", "parentOf", parent.sha256),
        ("style.png", "inputTo", style.sha256),
    ]
    actions = next(a for a in manifest["assertions"] if a["label"] == "c2pa.actions.v2")
    opened = actions["data"]["actions"][0]
    assert opened["action"] == "c2pa.opened"
    assert opened["parameters"]["ingredients"][0]["url"].endswith("c2pa.ingredient.v3")


def test_signed_ingredient_keeps_its_own_credentials(sign_image, settings, th, tmp_path) -> None:
    earlier = sign_image("png", seed=9)
    path = tmp_path / "earlier.png"
    path.write_bytes(earlier.data)
    from provenance.types import InputImage

    parent = InputImage.from_path(path, "parentOf")
    store = _read(sign_image("png", ingredients=[parent]).data, "image/png", settings)
    active = store["manifests"][store["active_manifest"]]
    assert active["ingredients"][0]["active_manifest"] == earlier.manifest_label
    (delta,) = store["validation_results"]["ingredientDeltas"]
    assert "ingredient.manifest.validated" in [
        c["code"] for c in delta["validationDeltas"]["success"]
    ]


def test_changed_ingredient_file_is_refused(sign_image, th, tmp_path: Path) -> None:
    parent = th.input_image(tmp_path, "photo.png", "parentOf")
    parent.path.write_bytes(th.image_bytes("png", 32, seed=77))
    with pytest.raises(SigningError, match="changed since it was screened"):
        sign_image("png", ingredients=[parent])


@pytest.mark.parametrize("thumbnail", [False, True])
def test_thumbnails_follow_the_setting(thumbnail: bool, settings, th) -> None:
    settings = settings.model_copy(
        update={"manifest": settings.manifest.model_copy(update={"thumbnail": thumbnail})}
    )
    spec = th.spec()
    with CredentialSigner.from_settings(settings) as signer:
        signed = signer.sign(th.image_bytes("png", 300), "image/png", build_manifest(spec))
    manifest = _read(signed.data, "image/png", settings)["manifests"][signed.manifest_label]
    assert ("thumbnail" in manifest) is thumbnail


def test_expired_certificate_is_refused_before_anything_is_signed(settings, th, tmp_path) -> None:
    from provenance.errors import CertificateError

    chain_path, key_path, _ = th.make_chain(leaf_days=(-60, -1)).write(tmp_path / "old")
    signing = settings.signing.model_copy(
        update={"certificate_chain": chain_path, "private_key": key_path}
    )
    with pytest.raises(CertificateError, match="expired"):
        CredentialSigner.from_settings(settings.model_copy(update={"signing": signing}))


def test_wrong_or_unsupported_formats_are_refused(credential_signer, th) -> None:
    manifest = build_manifest(th.spec())
    with pytest.raises(BadInputError, match="cannot sign image/gif"):
        credential_signer.sign(b"GIF89a", "image/gif", manifest)
    with pytest.raises(BadInputError, match="not image/jpeg"):
        credential_signer.sign(th.image_bytes("png"), "image/jpeg", manifest)


def test_c2pa_failures_become_signing_errors(credential_signer, th) -> None:
    manifest = build_manifest(th.spec())
    actions = manifest["assertions"][0]["data"]["actions"]
    actions[0]["parameters"] = {"ingredientIds": ["no-such-ingredient"]}
    with pytest.raises(SigningError, match=r"signing credentials: .*no-such-ingredient"):
        credential_signer.sign(th.image_bytes("png"), "image/png", manifest)


def test_certificate_info_for_the_ledger(credential_signer, settings) -> None:
    info = credential_signer.certificate_info()
    assert info["signer"] == "local" and info["algorithm"] == "es256"
    assert "DEVELOPMENT ONLY" in info["subject"] and "Intermediate" in info["issuer"]
    assert len(info["fingerprint"]) == 64 and info["not_after"] > info["not_before"]
    key_text = settings.key_path.read_text()
    assert not any(frag in json.dumps(info) for frag in key_text.splitlines()[1:-1])


def test_signing_from_several_threads(credential_signer, settings, th) -> None:
    manifest = build_manifest(th.spec())
    results: list[Any] = []

    def work(seed: int) -> None:
        for i in range(4):
            data = th.image_bytes("png", 48, seed * 10 + i)
            results.append(credential_signer.sign(data, "image/png", manifest))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 16 and len({r.manifest_label for r in results}) == 16
    for signed in results[::5]:
        assert _read(signed.data, "image/png", settings)["validation_state"] == "Trusted"


def test_a_failing_signer_plugin_is_reported_with_its_reason(settings, th) -> None:
    from provenance.credentials.signers import LocalKeySigner

    class FlakyKms(LocalKeySigner):
        def sign(self, data: bytes) -> bytes:
            raise SigningError("KMS key version 3 is disabled")

    signer = CredentialSigner(FlakyKms(settings), {}, None)
    with pytest.raises(SigningError, match="signer 'local' failed: KMS key version 3"):
        signer.sign(th.image_bytes("png"), "image/png", build_manifest(th.spec()))
    signer.close()

"""Verifier: trust decisions, tampering, hostile files, ledger cross-check, parallel batches."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from provenance.credentials.keys import load_certificate_chain
from provenance.errors import EXIT_ERROR, EXIT_OK, EXIT_VERIFICATION_FAILED, LedgerError
from provenance.verify.verifier import (
    LedgerMatch,
    LedgerQuery,
    State,
    Verifier,
    default_ledger_check,
    exit_code,
    expand_paths,
)


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_our_own_credentials_verify_as_trusted(fmt, sign_image, settings, th, tmp_path) -> None:
    signed = sign_image(fmt, seed=3)
    report = Verifier(settings).verify_file(_write(tmp_path, "a" + th.SUFFIX[fmt], signed.data))
    assert report.state is State.TRUSTED and report.ok, report.reason
    assert report.manifest_label == signed.manifest_label
    assert report.validation_state == "Trusted" and report.validation.failure == ()
    assert report.ai_generated and report.digital_source_type.endswith("/trainedAlgorithmicMedia")
    assert report.actions == ("c2pa.created",)
    assert (report.generator, report.seed, report.model["name"]) == ("gan", 42, "tiny-dcgan")
    assert report.policy["prompt"]["action"] == "allow" and report.attributions == ()
    assert report.training_mining["entries"]["cawg.ai_training"] == {"use": "notAllowed"}
    assert "Content Credentials Signer" in report.signer.subject
    assert "Intermediate CA" in report.signer.issuer and report.signer.algorithm == "es256"
    assert report.claim_generator.startswith("provenant ")
    assert report.to_dict()["state"] == "trusted" and report.to_dict()["ok"] is True


def test_without_our_anchor_the_signature_is_valid_but_untrusted(
    sign_image, settings, tmp_path
) -> None:
    untrusting = settings.model_copy(
        update={"trust": settings.trust.model_copy(update={"anchors": []})}
    )
    path = _write(tmp_path, "a.png", sign_image().data)
    report = Verifier(untrusting).verify_file(path)
    assert report.state is State.VALID_UNTRUSTED and not report.ok
    assert report.validation.failure_codes == ["signingCredential.untrusted"]
    assert "--trust-anchors" in report.reason
    trusted = Verifier(untrusting, extra_anchors=settings.trust.anchors).verify_file(path)
    assert trusted.state is State.TRUSTED


def test_foreign_signer_is_untrusted_until_its_root_is_given(
    settings, th, tmp_path, foreign_chain
) -> None:
    data = th.raw_c2pa_sign(foreign_chain, th.image_bytes("jpeg"), "jpeg")
    path = _write(tmp_path, "foreign.jpg", data)
    report = Verifier(settings).verify_file(path)
    assert report.state is State.VALID_UNTRUSTED
    assert report.signer.common_name == "Foreign Studio Signer"
    assert not report.ai_generated and report.claim_generator == "foreign-tool 2.0"
    _, _, root = foreign_chain.write(tmp_path / "foreign")
    assert Verifier(settings, extra_anchors=[root]).verify_file(path).state is State.TRUSTED


def test_an_allowed_certificate_is_not_trusted_by_a_fingerprint_of_ours(
    settings, th, tmp_path, foreign_chain
) -> None:
    """Trust is c2pa's: while c2pa ignores `trust.allowed_list` (see the xfail below), an
    allowed leaf reads as valid but untrusted; nothing of ours upgrades it."""
    path = _write(tmp_path, "f.png", th.raw_c2pa_sign(foreign_chain, th.image_bytes("png")))
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(th.pem(foreign_chain.leaf))
    trust = settings.trust.model_copy(update={"allowed_certificates": [leaf]})
    report = Verifier(settings.model_copy(update={"trust": trust})).verify_file(path)
    assert report.state in (State.VALID_UNTRUSTED, State.TRUSTED)
    assert (report.state is State.TRUSTED) == (report.validation_state == "Trusted")


@pytest.mark.xfail(
    strict=True,
    reason="c2pa-python 0.38.1 (c2pa 0.91.3) ignores trust.allowed_list while reading",
)
def test_c2pa_trusts_an_allowed_end_entity_certificate(th, foreign_chain) -> None:
    """The SDK setting alone, no Provenant code: an allowed leaf should read `Trusted`."""
    import io
    import json

    import c2pa

    from provenance.credentials.trust import verification_settings

    data = th.raw_c2pa_sign(foreign_chain, th.image_bytes("png"))
    allowed = th.pem(foreign_chain.leaf).decode()
    context = c2pa.Context.from_dict(verification_settings("", allowed))
    with context, c2pa.Reader("image/png", io.BytesIO(data), context=context) as reader:
        assert json.loads(reader.json())["validation_state"] == "Trusted"


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_manifest_grafted_from_another_image_fails(fmt, sign_image, settings, th, tmp_path) -> None:
    donor = sign_image(fmt, seed=1).data
    target = th.image_bytes(fmt, 64, seed=2)
    grafted = th.GRAFT[fmt](target, donor)
    report = Verifier(settings).verify_file(_write(tmp_path, "g" + th.SUFFIX[fmt], grafted))
    assert report.state is State.INVALID and report.failed_verification
    assert "assertion.dataHash.mismatch" in report.validation.failure_codes
    assert "assertion.dataHash.mismatch" in report.reason


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_changed_pixels_under_the_original_manifest_fail(
    fmt, sign_image, settings, th, tmp_path
) -> None:
    signed = sign_image(fmt, seed=4).data
    changed = th.GRAFT[fmt](th.reencode(signed, fmt, change_pixel=True), signed)
    report = Verifier(settings).verify_file(_write(tmp_path, "p" + th.SUFFIX[fmt], changed))
    assert report.state is State.INVALID
    assert "assertion.dataHash.mismatch" in report.validation.failure_codes


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_reencoding_strips_the_credentials(fmt, sign_image, settings, th, tmp_path) -> None:
    stripped = th.reencode(sign_image(fmt).data, fmt)
    report = Verifier(settings).verify_file(_write(tmp_path, "s" + th.SUFFIX[fmt], stripped))
    assert report.state is State.NO_CREDENTIALS and report.failed_verification
    assert report.manifest_label is None and report.reason.startswith("no content credentials")


@pytest.mark.parametrize(
    ("needle", "code"),
    [
        (b"trainedAlgorithmicMedia", "assertion.hashedURI.mismatch"),  # actions assertion
        (b"lighthouse", "assertion.hashedURI.mismatch"),  # prompt in org.provenant.generation
        (b"org.provenant.policy", None),  # an assertion's JUMBF label
    ],
)
def test_one_changed_byte_inside_the_manifest_fails(
    needle, code, sign_image, settings, th, tmp_path
) -> None:
    tampered = th.flip_byte_in(sign_image("png").data, needle)
    report = Verifier(settings).verify_file(_write(tmp_path, "t.png", tampered))
    assert report.state is State.INVALID and report.failed_verification, report.reason
    if code:
        assert code in report.validation.failure_codes


def test_hostile_files_are_reported_never_raised(sign_image, settings, th, tmp_path) -> None:
    signed = sign_image("png").data
    cases = {
        "text.png": (b"just some text, not an image", "not a PNG, JPEG or WebP"),
        "zero.png": (b"", "empty file"),
        "truncated.png": (signed[: len(signed) // 2], "could not be parsed"),
        "cut-short.png": (signed[:-30], "could not be parsed"),
        "huge.png": (th.huge_png_header(), "100000x100000"),
        "huge.jpg": (th.huge_jpeg_header(), "decompression bomb refused"),
        "header-only.png": (signed[:40], ""),
    }
    verifier = Verifier(settings)
    for name, (data, message) in cases.items():
        report = verifier.verify_file(_write(tmp_path, name, data))
        assert report.state is State.UNREADABLE, (name, report.state, report.reason)
        assert message in report.reason and "\n" not in report.reason, (name, report.reason)
        assert not report.ok and not report.failed_verification
    missing = verifier.verify_file(tmp_path / "missing.png")
    assert missing.state is State.UNREADABLE and "No such file" in missing.reason
    folder = verifier.verify_file(tmp_path)
    assert folder.state is State.UNREADABLE and "pass -r" in folder.reason


def test_remote_manifest_is_not_fetched_unless_configured(
    settings, th, tmp_path, foreign_chain
) -> None:
    url = "https://credentials.example.invalid/m.c2pa"
    data = th.raw_c2pa_sign(foreign_chain, th.image_bytes("jpeg"), "jpeg", remote_url=url)
    report = Verifier(settings).verify_file(_write(tmp_path, "remote.jpg", data))
    assert report.state is State.NO_CREDENTIALS and report.failed_verification
    assert url in report.reason and "fetch_remote_manifests = true" in report.reason


def test_wrong_extension_does_not_matter(sign_image, settings, tmp_path) -> None:
    report = Verifier(settings).verify_file(
        _write(tmp_path, "really-a-png.jpg", sign_image("png").data)
    )
    assert report.state is State.TRUSTED and report.mime == "image/png"


def test_details_carry_the_signers_certificate_and_store(sign_image, settings, tmp_path) -> None:
    path = _write(tmp_path, "a.jpg", sign_image("jpeg").data)
    report = Verifier(settings, details=True).verify_file(path)
    leaf = load_certificate_chain(settings.chain_path)[0]
    (signer,) = report.certificate_chain  # c2pa hands out the signer's facts, not its chain
    assert signer["serial"] == format(leaf.serial_number, "x")
    assert signer["not_after"] == leaf.not_valid_after_utc.isoformat()
    assert "Intermediate CA" in signer["issuer"] and "Signer" in signer["subject"]
    assert report.manifest_store["active_manifest"] == report.manifest_label
    assert report.detailed["active_manifest"] == report.manifest_label
    assert "certificate_chain" in report.to_dict()
    assert "certificate_chain" not in Verifier(settings).verify_file(path).to_dict()


class FakeLedger:
    """Answers like the real ledger would, from a dict of recorded hashes."""

    def __init__(self, recorded: dict[str, str], chain_ok: bool = True, fail: bool = False):
        self.recorded, self.chain_ok, self.fail = recorded, chain_ok, fail
        self.calls: list[str] = []
        self.batches: list[int] = []

    def __call__(self, queries: Sequence[LedgerQuery]) -> list[LedgerMatch | None]:
        self.batches.append(len(queries))
        self.calls.extend(q.sha256 for q in queries)
        if self.fail:
            raise LedgerError("ledger database is not reachable")
        return [self._one(q.sha256) for q in queries]

    def _one(self, sha256: str) -> LedgerMatch | None:
        if sha256 not in self.recorded:
            return None
        return LedgerMatch(True, self.recorded[sha256], True, self.chain_ok)


def test_ledger_check_gets_the_file_hash_and_decides_ok(sign_image, settings, tmp_path) -> None:
    signed = sign_image("png")
    path = _write(tmp_path, "a.png", signed.data)
    ledger = FakeLedger({signed.sha256: "ast-1"})
    report = Verifier(settings, ledger_check=ledger).verify_file(path)
    assert ledger.calls == [hashlib.sha256(signed.data).hexdigest()]
    assert report.ok and report.ledger.asset_id == "ast-1" and report.sha256 == signed.sha256
    assert report.to_dict()["ledger"]["ok"] is True
    missing = Verifier(settings, ledger_check=FakeLedger({})).verify_file(path)
    assert missing.state is State.TRUSTED and not missing.ok and missing.failed_verification
    assert "not recorded in the ledger" in missing.reason
    broken = Verifier(settings, ledger_check=FakeLedger({signed.sha256: "a"}, chain_ok=False))
    assert "chain broken" in broken.verify_file(path).reason
    down = Verifier(settings, ledger_check=FakeLedger({}, fail=True)).verify_file(path)
    assert not down.ok and not down.failed_verification
    assert "ledger check failed: ledger database is not reachable" in down.ledger_error
    assert exit_code([down]) == EXIT_ERROR and exit_code([missing]) == EXIT_VERIFICATION_FAILED


def test_ledger_is_not_asked_about_unreadable_files(settings, tmp_path) -> None:
    ledger = FakeLedger({})
    Verifier(settings, ledger_check=ledger).verify_file(_write(tmp_path, "x.png", b"nope"))
    assert ledger.calls == []
    assert default_ledger_check(settings) is None


def _batch(sign_image, th, folder: Path) -> tuple[list[Path], list[State]]:
    paths, states = [], []
    for i in range(12):
        fmt = ("png", "jpeg", "webp")[i % 3]
        data = sign_image(fmt, seed=i).data
        expected = State.TRUSTED
        if i % 5 == 2:
            data, expected = data[:30], State.UNREADABLE
        elif i % 5 == 4:
            data, expected = th.reencode(data, fmt), State.NO_CREDENTIALS
        paths.append(_write(folder, f"{i:02d}{th.SUFFIX[fmt]}", data))
        states.append(expected)
    return paths, states


@pytest.mark.parametrize("mode", ["processes", "threads"])
def test_verify_many_keeps_order_and_goes_past_bad_files(
    mode, sign_image, settings, th, tmp_path, monkeypatch
) -> None:
    if mode == "threads":
        monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    paths, expected = _batch(sign_image, th, tmp_path)
    ledger = FakeLedger({})
    reports = list(Verifier(settings, ledger_check=ledger).verify_many(paths, workers=2))
    assert [r.path for r in reports] == paths
    assert [r.state for r in reports] == expected
    trusted = [r for r in reports if r.state is State.TRUSTED]
    assert len(ledger.calls) == len(trusted) + sum(s is State.NO_CREDENTIALS for s in expected)
    assert ledger.batches == [len(ledger.calls)]  # one lookup for the whole (small) batch
    assert all(r.sha256 == hashlib.sha256(r.path.read_bytes()).hexdigest() for r in trusted)


def test_a_dying_worker_does_not_lose_the_batch(
    sign_image, settings, th, tmp_path, monkeypatch
) -> None:
    paths, expected = _batch(sign_image, th, tmp_path)
    parent, original = os.getpid(), Verifier._read

    def crash_in_worker(self: Verifier, path: Path) -> Any:
        if path == paths[5] and os.getpid() != parent:
            os._exit(3)  # as a native crash on a hostile file would
        return original(self, path)

    monkeypatch.setattr(Verifier, "_read", crash_in_worker)
    reports = list(Verifier(settings).verify_many(paths, workers=2))
    assert [r.path for r in reports] == paths
    assert [r.state for r in reports] == expected


@pytest.mark.slow
def test_two_hundred_files_in_parallel_match_serial(
    credential_signer, settings, th, tmp_path
) -> None:
    from provenance.credentials.manifest import build_manifest

    manifest = build_manifest(th.spec())
    paths = []
    for i in range(200):
        data = credential_signer.sign(th.image_bytes("png", 128, i), "image/png", manifest).data
        if i % 17 == 0:
            data = th.flip_byte_in(data, b"lighthouse")
        paths.append(_write(tmp_path, f"{i:03d}.png", data))
    verifier = Verifier(settings)
    serial = [(r.path, r.state, r.reason) for r in verifier.verify_many(paths, workers=1)]
    parallel = [(r.path, r.state, r.reason) for r in verifier.verify_many(paths, workers=2)]
    assert parallel == serial
    assert sum(state is State.INVALID for _, state, _ in serial) == 12


def test_expand_paths_walks_directories_only_when_asked(sign_image, th, tmp_path) -> None:
    folder = tmp_path / "mixed"
    (folder / "sub").mkdir(parents=True)
    (folder / ".hidden").mkdir()
    _write(folder, "a.png", sign_image().data)
    _write(folder / "sub", "b.JPG", b"corrupt but named like an image")
    _write(folder / "sub", "no-extension", th.image_bytes("webp"))
    _write(folder, "notes.txt", b"hello")
    _write(folder / ".hidden", "c.png", th.image_bytes())
    _write(folder, ".d.png", th.image_bytes())
    assert expand_paths([folder], recursive=False) == [folder]
    assert expand_paths([folder, tmp_path / "x.png"], recursive=True) == [
        folder / "a.png",
        folder / "sub" / "b.JPG",
        folder / "sub" / "no-extension",
        tmp_path / "x.png",
    ]


def test_exit_codes() -> None:
    from provenance.verify.report import VerificationReport

    def r(state: State) -> Any:
        return VerificationReport(Path("x"), state, "")

    assert exit_code([r(State.TRUSTED)]) == EXIT_OK
    assert exit_code([r(State.TRUSTED), r(State.UNREADABLE)]) == EXIT_ERROR
    for bad in (State.INVALID, State.NO_CREDENTIALS, State.VALID_UNTRUSTED):
        assert exit_code([r(State.UNREADABLE), r(bad)]) == EXIT_VERIFICATION_FAILED


@pytest.mark.xfail(
    strict=True,
    reason="c2pa-python 0.38.1 hands out no certificate bytes for the claim signer "
    "(c2pa's SignatureInfo.cert_chain is never serialised), so --certs prints no PEM",
)
def test_c2pa_hands_out_the_signers_certificate_chain(sign_image) -> None:
    import io
    import json

    import c2pa

    data = sign_image().data
    context = c2pa.Context.from_dict({})
    with context, c2pa.Reader("image/png", io.BytesIO(data), context=context) as reader:
        store = json.loads(reader.json())
    info = store["manifests"][store["active_manifest"]]["signature_info"]
    assert "BEGIN CERTIFICATE" in str(info.get("cert_chain", ""))


def test_a_trusted_signers_certificate_is_read_once_an_untrusted_one_every_time(
    sign_image, settings, tmp_path, monkeypatch
) -> None:
    import c2pa

    from provenance.verify import reading

    monkeypatch.setattr(reading, "_TRUSTED_SIGNERS", {})
    calls: list[int] = []
    crjson = c2pa.Reader.crjson

    def counted(self: Any) -> str:
        calls.append(1)
        return crjson(self)

    monkeypatch.setattr(c2pa.Reader, "crjson", counted)
    paths = [_write(tmp_path, f"{i}.png", sign_image(seed=i).data) for i in range(3)]
    reports = [Verifier(settings).verify_file(p) for p in paths]
    assert [r.state for r in reports] == [State.TRUSTED] * 3 and len(calls) == 1
    assert len({r.signer for r in reports}) == 1 and reports[0].signer.not_after
    untrusting = settings.model_copy(
        update={"trust": settings.trust.model_copy(update={"anchors": []})}
    )
    for path in paths:
        assert Verifier(untrusting).verify_file(path).state is State.VALID_UNTRUSTED
    assert len(calls) == 4  # valid but untrusted: each file's own certificate

"""One damaged file is that file's report: never a traceback, never a shortened batch.

The first cases are the ones that once broke a batch: a signed PNG with bytes changed inside
the signing certificate that c2pa still parses leniently, but a strict X.509 parser does not
(`error parsing asn1 value ... location: ["issuer"]`).  Then any surprise at all while
reading one file, in-process and in worker processes.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from typer.testing import CliRunner

from provenance.credentials.keys import load_certificate_chain
from provenance.errors import EXIT_ERROR, EXIT_VERIFICATION_FAILED
from provenance.verify.verifier import State, Verifier, exit_code

#: Damaged copies per certificate of the chain (16 random bytes changed in each).
COPIES = 24


def _damaged_in_certificates(data: bytes, chain_path: Path, folder: Path) -> list[Path]:
    """Copies of `data` damaged inside each certificate of its x5chain: an invalid UTF-8
    byte in each name (what c2pa accepts and a strict parser refuses), and 16 random bytes.
    """
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    out = []

    def write(name: str, raw: bytearray) -> None:
        path = folder / f"{name}.png"
        path.write_bytes(bytes(raw))
        out.append(path)

    for index, cert in enumerate(load_certificate_chain(chain_path)):
        der = cert.public_bytes(Encoding.DER)
        at = data.find(der)
        assert at > 0, "the certificate is stored in the file as DER"
        for field, name in (("subject", cert.subject), ("issuer", cert.issuer)):
            common_name = str(name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
            where = der.find(common_name.encode())
            assert where > 0
            for byte in (0xFF, 0x80):
                raw = bytearray(data)
                raw[at + where + 3] = byte
                write(f"cert{index}-{field}-utf8-{byte:x}", raw)
        for copy in range(COPIES):
            rng, raw = random.Random(index * 1000 + copy), bytearray(data)
            for _ in range(16):
                raw[at + rng.randrange(len(der))] = rng.randrange(256)
            write(f"cert{index}-random-{copy:02d}", raw)
    return out


@pytest.fixture
def damaged(sign_image, settings, tmp_path) -> list[Path]:
    signed = sign_image("png")
    good = tmp_path / "files" / "good.png"
    files = _damaged_in_certificates(signed.data, settings.chain_path, tmp_path / "files")
    good.write_bytes(signed.data)
    return sorted([*files, good])


def test_damaged_certificates_yield_one_report_each(damaged, settings) -> None:
    verifier = Verifier(settings)
    for workers in (1, 2):
        reports = list(verifier.verify_many(damaged, workers=workers))
        assert [r.path for r in reports] == damaged
        assert all(r.reason and "\n" not in r.reason for r in reports)
        by_name = {r.path.name: r.state for r in reports}
        assert by_name.pop("good.png") is State.TRUSTED
        assert State.TRUSTED not in by_name.values()
    assert exit_code(reports) == EXIT_VERIFICATION_FAILED


def test_the_cli_reports_every_damaged_file(damaged, settings) -> None:
    from provenance.cli import app

    folder = damaged[0].parent
    anchors = settings.trust.anchors[0]
    for extra in ((), ("--workers", "2")):
        args = ["--home", str(settings.home), "verify", "--no-ledger", "--trust-anchors"]
        result = CliRunner().invoke(app, [*args, str(anchors), str(folder), "-r", "--json", *extra])
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "Traceback" not in result.output
        lines = [json.loads(x) for x in result.stdout.splitlines()]
        assert sorted(Path(x["path"]) for x in lines) == damaged
        assert result.exit_code == EXIT_VERIFICATION_FAILED
    single = CliRunner().invoke(app, [*args, str(anchors), str(damaged[0])])
    assert single.exit_code == EXIT_VERIFICATION_FAILED and "Traceback" not in single.output


def _explode_on_bad_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make reading any file named bad-* raise something nobody planned for."""
    import provenance.verify.verifier as verify_module

    real = verify_module.read_credentials

    def reading(path: Path, *args: Any, **kwargs: Any) -> Any:
        if path.name.startswith("bad-"):
            raise KeyError("an unplanned failure")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(verify_module, "read_credentials", reading)


@pytest.mark.parametrize("workers", [1, 2])
def test_any_failure_while_reading_is_that_files_error(
    workers, monkeypatch, sign_image, settings, tmp_path
) -> None:
    _explode_on_bad_files(monkeypatch)  # forked workers inherit the patch
    paths = []
    for i in range(20):
        path = tmp_path / f"{'bad' if i % 3 == 0 else 'ok'}-{i:02d}.png"
        path.write_bytes(sign_image("png", seed=i % 2).data)
        paths.append(path)
    reports = list(Verifier(settings).verify_many(paths, workers=workers))
    assert [r.path for r in reports] == paths
    for report in reports:
        if report.path.name.startswith("bad-"):
            assert report.state is State.ERROR and not report.ok
            assert report.reason == "could not verify this file (KeyError: 'an unplanned failure')"
            assert report.to_dict()["state"] == "error"
        else:
            assert report.state is State.TRUSTED
    assert exit_code(reports) == EXIT_ERROR  # errors, and nothing failed verification


def test_a_failing_ledger_check_is_that_files_report(sign_image, settings, tmp_path) -> None:
    def ledger(queries: Any) -> Any:
        raise RuntimeError("database went away")

    path = tmp_path / "a.png"
    path.write_bytes(sign_image("png").data)
    report = Verifier(settings, ledger_check=ledger).verify_file(path)
    assert report.ledger_error == "ledger check failed: RuntimeError: database went away"
    assert not report.ok


@pytest.fixture(scope="module")
def signed_png(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One signed PNG (module scope, for the fuzz test below)."""
    import importlib

    from provenance.config import Settings
    from provenance.credentials.keys import create_dev_ca
    from provenance.credentials.manifest import build_manifest
    from provenance.credentials.signing import CredentialSigner

    helpers = importlib.import_module("provenant_trust_helpers")
    home = tmp_path_factory.mktemp("fuzz")
    create_dev_ca(home / "keys")
    with CredentialSigner.from_settings(Settings.load(home=home, env={})) as signer:
        return signer.sign(helpers.image_bytes(), "image/png", build_manifest(helpers.spec()))


@hypothesis.settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_damaged_files_never_raise_from_the_verifier(signed_png, tmp_path_factory, data) -> None:
    from provenance.config import Settings

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

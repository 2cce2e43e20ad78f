"""`provenant verify` through typer's CliRunner and the real console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from provenance.cli import app
from provenance.config import Settings
from provenance.credentials.manifest import build_manifest
from provenance.credentials.signing import CredentialSigner
from provenance.errors import EXIT_ERROR, EXIT_OK, EXIT_USAGE, EXIT_VERIFICATION_FAILED

runner = CliRunner()


@pytest.fixture
def studio(tmp_path: Path) -> Path:
    """A data dir made by `provenant init`."""
    home = tmp_path / "studio"
    assert runner.invoke(app, ["--home", str(home), "init"]).exit_code == EXIT_OK
    return home


@pytest.fixture
def signed_files(studio: Path, tmp_path: Path, th) -> dict[str, Path]:
    """One signed file per format, written to tmp_path/out."""
    out = tmp_path / "out"
    out.mkdir()
    files = {}
    with CredentialSigner.from_settings(Settings.load(home=studio, env={})) as signer:
        for seed, fmt in enumerate(("png", "jpeg", "webp")):
            data = th.image_bytes(fmt, 64, seed)
            signed = signer.sign(data, th.MIME[fmt], build_manifest(th.spec()))
            files[fmt] = out / f"signed{th.SUFFIX[fmt]}"
            files[fmt].write_bytes(signed.data)
    return files


def _verify(studio: Path, *args: Any):
    """`verify` of files signed outside the pipeline: credentials only, no ledger check."""
    return runner.invoke(app, ["--home", str(studio), "verify", "--no-ledger", *map(str, args)])


def test_all_trusted_exits_0(studio, signed_files) -> None:
    result = _verify(studio, *signed_files.values())
    assert result.exit_code == EXIT_OK, result.output
    assert "3 files: 3 trusted" in result.output


def test_json_is_one_object_per_file_in_order(studio, signed_files, tmp_path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    paths = [signed_files["webp"], bad, signed_files["png"]]
    result = _verify(studio, *paths, "--json", "--workers", "2")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["path"] for line in lines] == [str(p) for p in paths]
    assert [line["state"] for line in lines] == ["trusted", "unreadable", "trusted"]
    assert lines[0]["ai_generated"] is True and lines[0]["generator"] == "gan"
    assert result.exit_code == EXIT_ERROR


def test_a_tampered_file_exits_4_and_the_batch_goes_on(studio, signed_files, tmp_path, th) -> None:
    tampered = tmp_path / "tampered.png"
    tampered.write_bytes(th.flip_byte_in(signed_files["png"].read_bytes(), b"lighthouse"))
    stripped = tmp_path / "stripped.jpg"
    stripped.write_bytes(th.reencode(signed_files["jpeg"].read_bytes(), "jpeg"))
    empty = tmp_path / "empty.webp"
    empty.write_bytes(b"")
    result = _verify(studio, tampered, empty, stripped, signed_files["webp"])
    assert result.exit_code == EXIT_VERIFICATION_FAILED, result.output
    assert f"{tampered}: credentials fail validation: assertion.hashedURI.mismatch" in result.output
    assert f"{empty}: empty file" in result.output
    assert "no_credentials" in result.output and "1 trusted" in result.output
    assert "Traceback" not in result.output


def test_hostile_inputs_one_line_each(studio, tmp_path, th) -> None:
    cases = {
        "notes.png": b"not an image at all",
        "zero.jpg": b"",
        "huge.png": th.huge_png_header(),
        "cut.png": th.image_bytes("png")[:60],
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    paths = [tmp_path / n for n in cases] + [tmp_path / "missing.png"]
    result = _verify(studio, *paths)
    assert result.exit_code == EXIT_ERROR
    for path in paths:
        lines = [ln for ln in result.output.splitlines() if ln.startswith(f"{path}: ")]
        assert len(lines) == 1, (path, result.output)
    assert "100000x100000" in result.output and "No such file" in result.output


def test_directories_need_r_and_mixed_folders_are_fine(studio, signed_files, tmp_path) -> None:
    folder = signed_files["png"].parent
    (folder / "README.txt").write_text("not an image")
    without = _verify(studio, folder)
    assert without.exit_code == EXIT_ERROR and "pass -r" in without.output
    recursive = _verify(studio, "-r", folder, "--json")
    states = [json.loads(line)["state"] for line in recursive.stdout.splitlines()]
    assert states == ["trusted"] * 3 and recursive.exit_code == EXIT_OK
    empty = tmp_path / "nothing"
    empty.mkdir()
    none = _verify(studio, "-r", empty)
    assert none.exit_code == EXIT_ERROR and "no images to verify" in none.output


def test_foreign_signer_needs_trust_anchors(studio, tmp_path, th, foreign_chain) -> None:
    path = tmp_path / "foreign.webp"
    path.write_bytes(th.raw_c2pa_sign(foreign_chain, th.image_bytes("webp"), "webp"))
    untrusted = _verify(studio, path)
    assert untrusted.exit_code == EXIT_VERIFICATION_FAILED
    assert "valid_untrusted" in untrusted.output and "--trust-anchors" in untrusted.output
    _, _, root = foreign_chain.write(tmp_path / "foreign")
    trusted = _verify(studio, path, "--trust-anchors", root)
    assert trusted.exit_code == EXIT_OK, trusted.output
    missing = _verify(studio, path, "--trust-anchors", tmp_path / "nope.pem")
    assert missing.exit_code == EXIT_ERROR
    assert "nope.pem: cannot read trust anchor" in missing.output


def test_views(studio, signed_files, tmp_path, th) -> None:
    parent = th.input_image(tmp_path, "photo.png", "parentOf")
    with CredentialSigner.from_settings(Settings.load(home=studio, env={})) as signer:
        spec = th.spec(ingredients=[parent])
        data = signer.sign(th.image_bytes(), "image/png", build_manifest(spec), [parent]).data
    edited = tmp_path / "edited.png"
    edited.write_bytes(data)
    tree = _verify(studio, edited, "--tree")
    assert tree.exit_code == EXIT_OK
    for text in (
        "urn:c2pa:",
        "c2pa.actions.v2",
        "org.provenant.attribution",
        "photo.png (parentOf)",
    ):
        assert text in tree.output, text
    certs = _verify(studio, signed_files["jpeg"], "--certs")
    assert "signer: " in certs.output and "Intermediate CA" in certs.output
    assert "serial: " in certs.output and "valid: " in certs.output
    detailed = _verify(studio, signed_files["webp"], "--detailed")
    assert '"claim"' in detailed.output and '"assertion_store"' in detailed.output
    both = _verify(studio, edited, "--tree", "--certs")
    assert both.exit_code == EXIT_USAGE and "choose one of" in both.output


def test_json_with_certs_includes_the_chain(studio, signed_files) -> None:
    result = _verify(studio, signed_files["png"], "--json", "--certs")
    (line,) = [json.loads(x) for x in result.stdout.splitlines()]
    assert line["state"] == "trusted"
    (signer,) = line["certificate_chain"]  # the signer, as c2pa parsed it: no PEM handed out
    assert "Intermediate CA" in signer["issuer"] and signer["serial"]


# --- the real console script -------------------------------------------------------------


def _script(home: Path, *args: Any) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANT_")}
    return subprocess.run(
        ["provenant", "--home", str(home), *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_console_script_exit_codes_and_one_line_errors(studio, signed_files, tmp_path) -> None:
    ok = _script(studio, "verify", "--no-ledger", *signed_files.values())
    assert ok.returncode == EXIT_OK, ok.stderr
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    failed = _script(
        studio, "verify", "--no-ledger", bad, "--trust-anchors", tmp_path / "missing.pem"
    )
    assert failed.returncode == EXIT_ERROR
    assert failed.stderr.strip().count("\n") == 0 and failed.stderr.startswith("error: ")
    mixed = _script(studio, "verify", "--no-ledger", "--json", signed_files["png"], bad)
    assert mixed.returncode == EXIT_ERROR
    assert [json.loads(x)["state"] for x in mixed.stdout.splitlines()] == ["trusted", "unreadable"]


_IMPORT_PROBE = """
import sys
from provenance.cli import main
sys.argv = ["provenant", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
names = ("torch", "diffusers", "transformers", "open_clip", "onnxruntime")
heavy = [m for m in names if m in sys.modules]
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--help"], ["verify", "--help"], ["verify", "SIGNED"]])
def test_help_and_verify_do_not_import_heavy_libraries(args, studio, signed_files) -> None:
    args = [str(signed_files["png"]) if a == "SIGNED" else a for a in args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANT_")}
    env["PROVENANT_HOME"] = str(studio)
    probe = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert "HEAVY=\n" in probe.stderr, probe.stderr

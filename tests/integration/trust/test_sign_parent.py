"""`provenant sign` of a file that already carries C2PA credentials keeps them.

The file becomes the `parentOf` ingredient: the output's manifest store holds the parent's
manifests, the ingredient names the parent's active manifest and c2pa's validation results,
the first action is `c2pa.opened` and nothing claims the image was newly created.  Invalid
credentials are refused unless `--accept-invalid-parent`, and then the failure is recorded.
Everything is read back with c2pa-python's own `Reader` and the studio's trust anchors.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import c2pa
import pytest
from typer.testing import CliRunner

from provenance.cli import app
from provenance.config import Settings
from provenance.credentials.manifest import GENERATION_LABEL, TRAINED_ALGORITHMIC_MEDIA
from provenance.credentials.signing import CredentialSigner
from provenance.credentials.trust import verification_settings
from provenance.errors import EXIT_ERROR, EXIT_OK
from provenance.ledger import AssetRecord, Ledger

runner = CliRunner()
DECLARED = ("--generator", "othertool", "--model", "other-model-2")


@pytest.fixture
def studio(tmp_path: Path) -> Path:
    """A data dir made by `provenant init` (dev CA, SQLite ledger)."""
    home = tmp_path / "studio"
    assert runner.invoke(app, ["--home", str(home), "init"]).exit_code == EXIT_OK
    return home


def _cli(home: Path, *args: Any):
    return runner.invoke(app, ["--home", str(home), *map(str, args)])


def _store(path: Path, home: Path) -> dict[str, Any]:
    """The manifest store as c2pa reads it, trusting what the studio trusts."""
    roots = [Path(p).read_text() for p in Settings.load(home=home, env={}).trust.anchors]
    context = c2pa.Context.from_dict(verification_settings("".join(roots)))
    data = path.read_bytes()
    with c2pa.Reader("image/png", io.BytesIO(data), context=context) as reader:
        return json.loads(reader.json())


def _active(store: dict[str, Any]) -> dict[str, Any]:
    return store["manifests"][store["active_manifest"]]


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    (actions,) = [a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions")]
    return actions["data"]["actions"]


def _assertion(manifest: dict[str, Any], label: str) -> Any:
    (found,) = [a["data"] for a in manifest["assertions"] if a["label"] == label]
    return found


def _failures(ingredient: dict[str, Any]) -> set[str]:
    active = ingredient["validation_results"]["activeManifest"]
    return {item["code"] for item in active.get("failure", [])}


def _foreign_parent(th, foreign_chain, folder: Path, *, tamper: bool = False) -> Path:
    """A PNG that another studio's tool signed as AI-generated, under its own CA."""
    chain, key, root = foreign_chain.write(folder / "foreign-keys")
    settings = Settings.load(
        home=folder / "foreign",
        env={},
        overrides={
            "signing": {"certificate_chain": str(chain), "private_key": str(key)},
            "trust": {"anchors": [str(root)]},
        },
    )
    manifest = {
        "claim_generator_info": [{"name": "othertool", "version": "2.0"}],
        "title": "render.png",
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "data": {
                    "actions": [
                        {"action": "c2pa.created", "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA}
                    ]
                },
            }
        ],
    }
    with CredentialSigner.from_settings(settings) as signer:
        data = signer.sign(th.image_bytes("png", 48, 5), "image/png", manifest).data
    if tamper:  # other pixels under the very same manifest store
        data = th.png_graft(th.image_bytes("png", 48, 6), data)
    path = folder / "render.png"
    path.write_bytes(data)
    return path


def _ledger_row(home: Path, asset_id: str) -> AssetRecord:
    with Ledger.from_settings(Settings.load(home=home, env={}), read_only=True) as ledger:
        entry = ledger.get_asset(asset_id)
    assert entry is not None and isinstance(entry.record, AssetRecord)
    return entry.record


def _sign(home: Path, source: Path, out: Path, *extra: str):
    return _cli(home, "sign", source, *DECLARED, "--out", out, "--json", *extra)


def test_a_provenant_parent_is_kept_as_the_parent_ingredient(studio, th, tmp_path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(th.image_bytes("png", 40, 3))
    first = _sign(studio, photo, tmp_path / "first")
    assert first.exit_code == EXIT_OK, first.output
    parent_path = tmp_path / "first" / "photo.png"
    parent = _store(parent_path, studio)
    assert [a["action"] for a in _actions(_active(parent))] == ["c2pa.created"]

    second = _sign(studio, parent_path, tmp_path / "second")
    assert second.exit_code == EXIT_OK, second.output
    line = json.loads(second.stdout)
    assert line["parent"]["manifest_label"] == parent["active_manifest"]
    assert line["parent"]["validation_state"] == "Trusted"

    out = _store(tmp_path / "second" / "photo.png", studio)
    assert out["validation_state"] == "Trusted", out.get("validation_status")
    assert set(parent["manifests"]) < set(out["manifests"])  # the history travels along
    active = _active(out)
    actions = _actions(active)
    assert [a["action"] for a in actions] == ["c2pa.opened", "c2pa.edited.metadata"]
    assert all(a.get("digitalSourceType") != TRAINED_ALGORITHMIC_MEDIA for a in actions)
    (ingredient,) = active["ingredients"]
    assert ingredient["relationship"] == "parentOf"
    assert ingredient["active_manifest"] == parent["active_manifest"]
    assert _failures(ingredient) == set()
    generation = _assertion(active, GENERATION_LABEL)
    assert generation["parent"]["manifest_label"] == parent["active_manifest"]

    record = _ledger_row(studio, line["asset_id"])
    (row,) = record.ingredients
    assert (row.relationship, row.manifest_label, row.validation_state) == (
        "parentOf",
        parent["active_manifest"],
        "Trusted",
    )
    assert row.sha256 == json.loads(first.stdout)["sha256"]


def test_a_parent_from_another_signer_keeps_its_history(
    studio, th, foreign_chain, tmp_path
) -> None:
    parent_path = _foreign_parent(th, foreign_chain, tmp_path)
    parent = _store(parent_path, studio)
    assert parent["validation_state"] == "Valid"  # valid, but not a signer we trust

    result = _sign(studio, parent_path, tmp_path / "signed")
    assert result.exit_code == EXIT_OK, result.output
    line = json.loads(result.stdout)
    assert line["parent"]["validation_state"] == "Valid"
    assert line["parent"]["failures"] == ["signingCredential.untrusted"]

    out = _store(tmp_path / "signed" / "render.png", studio)
    assert out["validation_state"] == "Trusted"
    assert parent["active_manifest"] in out["manifests"]
    foreign = out["manifests"][parent["active_manifest"]]
    assert foreign["claim_generator_info"][0]["name"] == "othertool"
    active = _active(out)
    assert next(a["action"] for a in _actions(active)) == "c2pa.opened"
    assert "c2pa.created" not in [a["action"] for a in _actions(active)]
    (ingredient,) = active["ingredients"]
    assert ingredient["active_manifest"] == parent["active_manifest"]
    assert _failures(ingredient) == {"signingCredential.untrusted"}
    (row,) = _ledger_row(studio, line["asset_id"]).ingredients
    assert (row.manifest_label, row.validation_state) == (parent["active_manifest"], "Valid")

    verify = _cli(studio, "verify", "--json", tmp_path / "signed" / "render.png")
    assert verify.exit_code == EXIT_OK, verify.output
    assert json.loads(verify.stdout)["state"] == "trusted"


def test_a_parent_whose_pixels_changed_is_refused(studio, th, foreign_chain, tmp_path) -> None:
    parent_path = _foreign_parent(th, foreign_chain, tmp_path, tamper=True)
    assert _store(parent_path, studio)["validation_state"] == "Invalid"
    out = tmp_path / "signed"

    refused = _cli(studio, "sign", parent_path, *DECLARED, "--out", out)
    assert refused.exit_code == EXIT_ERROR
    (message,) = refused.stderr.strip().splitlines()[-1:]
    assert message.startswith(f"error: {parent_path}: its C2PA credentials fail validation")
    assert "assertion.dataHash.mismatch" in message and "--accept-invalid-parent" in message
    assert "Traceback" not in refused.output
    assert not out.exists() or not any(out.iterdir())
    with Ledger.from_settings(Settings.load(home=studio, env={}), read_only=True) as ledger:
        assert list(ledger.iter_entries()) == []


def test_accept_invalid_parent_records_the_failure(studio, th, foreign_chain, tmp_path) -> None:
    parent_path = _foreign_parent(th, foreign_chain, tmp_path, tamper=True)
    parent = _store(parent_path, studio)
    result = _sign(studio, parent_path, tmp_path / "signed", "--accept-invalid-parent")
    assert result.exit_code == EXIT_OK, result.output
    line = json.loads(result.stdout)
    assert line["parent"]["validation_state"] == "Invalid"
    assert "assertion.dataHash.mismatch" in line["parent"]["failures"]

    out = _store(tmp_path / "signed" / "render.png", studio)
    assert out["validation_state"] == "Trusted"  # our claim is sound; the parent's is not
    active = _active(out)
    (ingredient,) = active["ingredients"]
    assert ingredient["active_manifest"] == parent["active_manifest"]
    assert "assertion.dataHash.mismatch" in _failures(ingredient)
    assert _assertion(active, GENERATION_LABEL)["parent"]["validation_state"] == "Invalid"
    (row,) = _ledger_row(studio, line["asset_id"]).ingredients
    assert row.validation_state == "Invalid"


def test_a_file_without_credentials_is_still_signed_as_created(studio, th, tmp_path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(th.image_bytes("png", 40, 4))
    result = _sign(studio, photo, tmp_path / "signed")
    assert result.exit_code == EXIT_OK, result.output
    assert json.loads(result.stdout)["parent"] is None
    active = _active(_store(tmp_path / "signed" / "photo.png", studio))
    (created,) = _actions(active)
    assert created["action"] == "c2pa.created"
    assert created["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert active.get("ingredients", []) == []


def test_an_unreadable_manifest_store_is_never_signed_over(studio, th, tmp_path) -> None:
    """A caBX chunk c2pa cannot parse: refused even with --accept-invalid-parent."""
    import struct
    import zlib

    payload = bytes(range(256)) * 2
    chunk = struct.pack(">I", len(payload)) + b"caBX" + payload
    chunk += struct.pack(">I", zlib.crc32(b"caBX" + payload))
    image = th.image_bytes("png", 32, 7)
    broken = tmp_path / "broken.png"
    broken.write_bytes(image[:33] + chunk + image[33:])  # after the signature and IHDR
    out = tmp_path / "signed"
    for extra in ((), ("--accept-invalid-parent",)):
        result = _cli(studio, "sign", broken, *DECLARED, "--out", out, *extra)
        assert result.exit_code == EXIT_ERROR, result.output
        (line,) = result.stderr.strip().splitlines()[-1:]
        assert "carries a C2PA manifest store that cannot be read" in line
        assert not out.exists() or not any(out.iterdir())


def test_verify_carries_the_ai_disclosure_through_the_parent(
    studio, th, foreign_chain, tmp_path
) -> None:
    """Re-signing says `c2pa.opened`; the AI disclosure of the parent must still show."""
    parent_path = _foreign_parent(th, foreign_chain, tmp_path)
    assert _sign(studio, parent_path, tmp_path / "signed").exit_code == EXIT_OK
    signed = tmp_path / "signed" / "render.png"
    for path, expected in (
        (parent_path, "AI-generated (trainedAlgorithmicMedia)"),
        (signed, "contains AI-generated ingredient 'render.png' (trainedAlgorithmicMedia)"),
    ):
        result = _cli(studio, "verify", "--no-ledger", "--json", path)
        (line,) = [json.loads(x) for x in result.stdout.splitlines()]
        assert line["ai_generated"] is True, line
        assert line["ai_disclosure"] == expected
    assert "c2pa.opened" in line["actions"] and line["digital_source_type"] is None
    summary = _cli(studio, "verify", "--no-ledger", signed)
    assert "yes (ingredient)" in summary.output


def test_a_camera_parent_is_not_called_ai_generated(studio, th, tmp_path) -> None:
    """An ingredient without any AI source type passes no disclosure on."""
    from provenance.verify.verifier import Verifier

    photo = tmp_path / "camera.png"
    photo.write_bytes(th.raw_c2pa_sign(th.make_chain(), th.image_bytes("png", 40, 3)))
    settings = Settings.load(home=studio, env={})
    report = Verifier(settings).verify_file(photo)
    assert report.manifest_label and not report.ai_generated and report.ai_disclosure is None

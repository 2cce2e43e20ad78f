"""Durable credentials: a signed output stripped of its metadata is found again in the ledger.

Real parts throughout: `provenant sign` (watermark + fingerprint + c2pa), the SQLite ledger,
and `provenant verify` reading it through the standard library.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from PIL import Image
from skimage import data

from provenance.errors import EXIT_OK, EXIT_RECOVERED, EXIT_VERIFICATION_FAILED
from provenance.ledger import migrate
from provenance.ledger.db import create_engine
from provenance.softbinding import payload, watermark
from provenance.softbinding.marking import TOO_SMALL

SIGN = ("--generator", "external-model", "--model", "m1")


def _photo(path: Path, name: str, side: int) -> Path:
    Image.fromarray(getattr(data, name)()).convert("RGB").resize((side, side)).save(path)
    return path


def _sign(cli, source: Path, out: Path) -> dict:
    result = cli("sign", source, *SIGN, "--out", out, "--json")
    assert result.exit_code == EXIT_OK, result.output
    return json.loads(result.stdout.splitlines()[-1])


def _verify(cli, path: Path) -> tuple[int, dict]:
    result = cli("verify", path, "--json")
    return result.exit_code, json.loads(result.stdout.splitlines()[-1])


def test_stripped_copy_is_recovered_but_not_trusted(studio_home: Path, cli, tmp_path: Path) -> None:
    signed = _sign(cli, _photo(tmp_path / "astro.png", "astronaut", 512), tmp_path / "out")
    code, report = _verify(cli, Path(signed["path"]))
    assert code == EXIT_OK and report["recovery"] is None  # the fast path is untouched

    stripped = tmp_path / "stripped.png"
    Image.open(signed["path"]).convert("RGB").save(stripped)  # Pillow drops the manifest
    code, report = _verify(cli, stripped)
    assert code == EXIT_RECOVERED, report["reason"]
    assert report["state"] == "no_credentials" and report["ok"] is False
    recovery = report["recovery"]
    assert recovery["asset_id"] == signed["asset_id"]
    # The ledger issues a random id, and RivaGAN reads back some payloads of a re-saved file
    # wrongly (bench_softbinding.py: 80% of stripped copies); the CRC then rejects the decode
    # and the fingerprint alone must find the asset.  Watermark round trips with fixed
    # payloads are tested in tests/unit/softbinding.
    assert recovery["found_by"] in {"both", "fingerprint"}, recovery
    assert recovery["copy"] == "close copy"
    assert recovery["fingerprint_mismatch"] is False
    assert recovery["record"]["generator"] == "external-model"

    sidecar = tmp_path / "asset.c2pa"
    shown = cli("audit", "show", signed["asset_id"], "--manifest", sidecar)
    assert shown.exit_code == EXIT_OK, shown.output
    import c2pa

    with c2pa.Reader("application/c2pa", io.BytesIO(sidecar.read_bytes())) as reader:
        assert json.loads(reader.json())["active_manifest"] == signed["manifest_label"]
    assert cli("audit", "show", signed["asset_id"], "--manifest", sidecar).exit_code != 0

    half = tmp_path / "half.jpg"
    Image.open(signed["path"]).convert("RGB").resize((256, 256)).save(half, quality=75)
    code, report = _verify(cli, half)
    assert code == EXIT_RECOVERED and report["recovery"]["asset_id"] == signed["asset_id"]


def test_a_copied_watermark_points_at_the_record_and_says_mismatch(
    studio_home: Path, cli, tmp_path: Path
) -> None:
    signed = _sign(cli, _photo(tmp_path / "astro.png", "astronaut", 512), tmp_path / "out")
    url = f"sqlite:///{studio_home / 'ledger.db'}"
    engine = create_engine(url)
    other = np.asarray(Image.fromarray(data.coffee()).convert("RGB").resize((512, 512)))
    rivagan = watermark.RivaGan()
    with engine.begin() as conn:
        wid = conn.execute(sa.text("SELECT watermark_id FROM soft_bindings")).scalar_one()
        # RivaGAN misreads some payloads on some pictures (see the stripped-copy test); the
        # forger here copies an id it reads back, given to the record as the ledger would.
        candidates = [wid, *range(1, 64)]
        wid, marked = next(
            (c, m)
            for c in candidates
            if payload.decode(rivagan.decode(m := rivagan.embed(other, payload.encode(c)))) == c
        )
        conn.execute(sa.text("UPDATE soft_bindings SET watermark_id = :w"), {"w": wid})
    engine.dispose()
    forged = tmp_path / "forged.png"
    Image.fromarray(marked).save(forged)

    code, report = _verify(cli, forged)
    assert report["state"] == "no_credentials" and report["ok"] is False
    assert code == EXIT_RECOVERED
    assert report["recovery"]["asset_id"] == signed["asset_id"]
    assert report["recovery"]["found_by"] == "watermark"
    assert report["recovery"]["fingerprint_mismatch"] is True
    assert "FINGERPRINT MISMATCH" in report["reason"]


def test_unrelated_photo_is_no_match(studio_home: Path, cli, tmp_path: Path) -> None:
    _sign(cli, _photo(tmp_path / "astro.png", "astronaut", 512), tmp_path / "out")
    code, report = _verify(cli, _photo(tmp_path / "rocket.png", "rocket", 512))
    assert code == EXIT_VERIFICATION_FAILED and report["recovery"] is None


def test_a_recovered_record_carries_its_chain_state(studio_home: Path, cli, tmp_path: Path) -> None:
    signed = _sign(cli, _photo(tmp_path / "astro.png", "astronaut", 512), tmp_path / "out")
    stripped = tmp_path / "stripped.png"
    Image.open(signed["path"]).convert("RGB").save(stripped)
    code, report = _verify(cli, stripped)
    assert code == EXIT_RECOVERED and report["recovery"]["record"]["chain_ok"] is True
    engine = create_engine(f"sqlite:///{studio_home / 'ledger.db'}")
    with engine.begin() as conn:  # the recorded row altered behind the ledger's back
        conn.execute(sa.text("UPDATE assets SET seed = 999 WHERE asset_id = :a"),
                     {"a": signed["asset_id"]})  # fmt: skip
    engine.dispose()
    code, report = _verify(cli, stripped)
    assert report["recovery"]["asset_id"] == signed["asset_id"]
    assert report["recovery"]["record"]["chain_ok"] is False
    assert "fails the hash-chain check" in report["reason"]


def test_too_small_image_is_fingerprinted_only(studio_home: Path, cli, tmp_path: Path) -> None:
    signed = _sign(cli, _photo(tmp_path / "small.png", "chelsea", 160), tmp_path / "out")
    engine = create_engine(f"sqlite:///{studio_home / 'ledger.db'}")
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT watermark_id, note FROM soft_bindings")).one()
    engine.dispose()
    assert row.watermark_id is None and row.note == TOO_SMALL
    buf = io.BytesIO()
    Image.open(signed["path"]).convert("RGB").save(buf, "JPEG", quality=80)
    (tmp_path / "small.jpg").write_bytes(buf.getvalue())
    code, report = _verify(cli, tmp_path / "small.jpg")
    assert code == EXIT_RECOVERED and report["recovery"]["found_by"] == "fingerprint"


def test_migration_0006_up_and_down(database_url: str) -> None:
    from alembic import command

    migrate.upgrade(database_url)
    assert "0006_soft_bindings" in migrate.current_revisions(database_url)
    command.downgrade(migrate._config(database_url), "0005_lineage")
    engine = create_engine(database_url)
    with engine.connect() as conn:
        assert "soft_bindings" not in sa.inspect(conn).get_table_names()
    engine.dispose()
    migrate.upgrade(database_url)
    assert "0006_soft_bindings" in migrate.current_revisions(database_url)

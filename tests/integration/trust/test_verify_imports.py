"""`provenant verify` stays light: no torch, diffusers, Alembic or SQLAlchemy on its path.

Not a timing test (timings live in benchmarks/bench_provenance.py): it checks what the
command imports, in a fresh interpreter, with the ledger cross-check on and answering, so
a heavy import creeping back onto the verify path fails here rather than as a slow start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from provenance.cli import app
from provenance.config import Settings
from provenance.credentials.manifest import build_manifest
from provenance.credentials.signing import CredentialSigner
from provenance.errors import EXIT_OK
from provenance.ledger import AssetRecord, Ledger

#: Never on the verify path: generators' and migrations' libraries.
FORBIDDEN = ("torch", "diffusers", "transformers", "open_clip", "alembic", "mako", "sqlalchemy")

_PROBE = """
import json, sys
from provenance.cli import main
sys.argv = ["provenant", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
names = {forbidden!r}
loaded = sorted(m for m in names if m in sys.modules)
print("LOADED=" + json.dumps(loaded), file=sys.stderr)
"""


def _probe(home: Path, *args: str) -> tuple[str, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANT_")}
    env["PROVENANT_HOME"] = str(home)
    run = subprocess.run(
        [sys.executable, "-c", _PROBE.format(forbidden=FORBIDDEN), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    line = next(x for x in run.stderr.splitlines() if x.startswith("LOADED="))
    return run.stdout, json.loads(line.removeprefix("LOADED="))


def test_verify_with_the_ledger_imports_nothing_heavy(tmp_path: Path, th) -> None:
    home = tmp_path / "studio"
    assert CliRunner().invoke(app, ["--home", str(home), "init"]).exit_code == EXIT_OK
    settings = Settings.load(home=home, env={})
    folder = tmp_path / "out"
    folder.mkdir()
    with CredentialSigner.from_settings(settings) as signer:
        signed = signer.sign(th.image_bytes("png"), "image/png", build_manifest(th.spec()))
    path = folder / "a.png"
    path.write_bytes(signed.data)
    (folder / "b.png").write_bytes(th.image_bytes("png", seed=9))  # no credentials
    record = AssetRecord(
        asset_id=th.spec().asset_id,
        request_id="req-1",
        image_index=0,
        sha256=signed.sha256,
        path=str(path),
        mime="image/png",
        generator="gan",
        model={"name": "tiny-dcgan"},
        seed=42,
        prompt="a lighthouse at dusk",
        manifest_label=signed.manifest_label,
    )
    with Ledger.from_settings(settings) as ledger:
        ledger.append_asset(record)

    single, loaded = _probe(home, "verify", "--json", str(path))
    assert json.loads(single)["ledger"]["status"] == "recorded"  # the ledger really answered
    assert loaded == []
    batch, loaded = _probe(home, "verify", "-r", str(folder), "--workers", "2")
    assert "1 trusted" in batch and loaded == []

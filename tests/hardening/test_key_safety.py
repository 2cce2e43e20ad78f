"""Key safety across a whole run: bad certificates stop `generate` before any work, and the
signing key never reaches the logs, the output, the error text or the ledger database.

`tests/unit/trust` checks each key and certificate rule on its own; these hold the same rules
to the command a studio runs, end to end on the tiny GAN.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from provenance.cli import app
from provenance.ledger import Ledger
from tests.fixtures.trust import helpers as th
from tests.hardening.studio_home import make_home, settings_for


def _generate(home: Path, out: Path, *extra: str) -> Result:
    args = ["--home", str(home), "generate", "-n", "2", "--seed", "7", "--use", "research"]
    return CliRunner().invoke(app, [*args, "--out", str(out), *extra])


@pytest.mark.parametrize(
    ("leaf_days", "message"),
    [((-30, -1), "expired"), ((3, 365), "not valid until")],
    ids=["expired", "not-yet-valid"],
)
def test_a_bad_certificate_stops_generate_before_any_work(
    tiny_models: Any, tmp_path: Path, leaf_days: tuple[int, int], message: str
) -> None:
    home = make_home(tmp_path / "home", gan_model=Path(tiny_models.gan))
    chain = th.make_chain(leaf_days=leaf_days)
    keys = home / "keys"
    (keys / "signing-chain.pem").write_bytes(chain.chain_pem)
    (keys / "signing-key.pem").write_bytes(chain.key_pem())
    out = tmp_path / "out"

    result = _generate(home, out)

    assert result.exit_code == 1, result.output
    assert message in result.stderr and "Traceback" not in result.output
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "signing certificate" in errors[0]  # one line, naming it
    assert not out.exists() or not any(out.iterdir())  # nothing generated, nothing written
    ledger = Ledger.from_settings(settings_for(home))
    try:
        assert ledger.verify_chain().count == 0  # no asset, and no refusal either
    finally:
        ledger.close()


def test_the_signing_key_appears_nowhere(
    tiny_models: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = make_home(tmp_path / "home", gan_model=Path(tiny_models.gan))
    key_pem = (home / "keys" / "signing-key.pem").read_bytes()
    fragments = th.key_fragments(key_pem)
    assert len(fragments) >= 3
    out = tmp_path / "out"
    caplog.set_level(logging.DEBUG)

    ok = _generate(home, out, "--json")
    assert ok.exit_code == 0, ok.output
    broken_out = tmp_path / "blocked"
    broken_out.write_text("a file where a directory should be")
    failed = _generate(home, broken_out)  # an error path, with the key loaded
    assert failed.exit_code != 0

    texts = [ok.output, failed.output, caplog.text]
    texts += [p.read_bytes().decode("latin-1") for p in sorted(out.iterdir())]
    database = settings_for(home).database_url.removeprefix("sqlite:///")
    texts.append(Path(database).read_bytes().decode("latin-1"))
    with sqlite3.connect(database) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            texts += [repr(row) for row in conn.execute(f'SELECT * FROM "{table}"')]
    everything = "\n".join(texts)
    assert len(list(out.iterdir())) == 2 and len(tables) >= 4
    assert not [f for f in fragments if f in everything]
    assert "PRIVATE KEY" not in everything

"""A read-only ledger reads everything, writes nothing, and never creates a database."""

from __future__ import annotations

from pathlib import Path

import pytest

from provenance.errors import LedgerError, LedgerMissingError
from provenance.ledger import Ledger, migrate
from tests.integration.ledger.samples import sample_asset, sample_refusal


def test_read_only_ledger_reads_but_refuses_writes(ledger: Ledger) -> None:
    ledger.append_asset(sample_asset(1))
    with Ledger.from_url(ledger.url, read_only=True) as reader:
        reader.require_current()
        assert reader.verify_chain().ok and reader.head()[0] == 1
        assert reader.get_asset("ast-000001") is not None
        with pytest.raises(LedgerError) as err:
            reader.append_refusal(sample_refusal(1))
        assert "read" in err.value.diagnostics().lower()  # readonly / read-only transaction
    assert ledger.head()[0] == 1


def test_a_missing_sqlite_ledger_is_reported_and_never_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "ledger.db"
    url = f"sqlite:///{path}"
    with Ledger.from_url(url, read_only=True) as reader:
        for action in (reader.head, reader.verify_chain, reader.require_current):
            with pytest.raises(LedgerMissingError, match=f"no ledger database at {path}"):
                action()
    assert migrate.current_revision(url) is None
    with pytest.raises(LedgerMissingError, match="not initialised"):
        migrate.require_current(url)
    assert not path.parent.exists()

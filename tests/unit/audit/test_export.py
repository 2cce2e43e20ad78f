"""CSV and JSON Lines exports: lossless round trips, streaming, atomic files."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from provenance.audit.export import (
    CSV_COLUMNS,
    check_writable,
    replaced_atomically,
    write_entries,
)
from provenance.audit.query import AuditFilter, iter_entries, verdict_of
from provenance.errors import BadInputError
from provenance.ledger import (
    AssetRecord,
    AttributionRecord,
    DecisionRecord,
    IngredientRecord,
    Ledger,
    LedgerEntry,
    LedgerRecord,
    RefusalRecord,
)
from tests.integration.ledger.samples import sample_asset

CHILDREN = {
    "decisions": DecisionRecord,
    "attributions": AttributionRecord,
    "ingredients": IngredientRecord,
}


def _entries(ledger: Ledger) -> list[LedgerEntry]:
    with ledger.read_snapshot() as conn:
        return list(iter_entries(conn, AuditFilter()))


def _record_from_json(kind: str, body: dict[str, Any]) -> LedgerRecord:
    """Rebuild a record from its exported JSON (what a consumer of the export would do)."""
    values = dict(body)
    values["created_at"] = datetime.fromisoformat(values["created_at"])
    for name, cls in CHILDREN.items():
        if name in values:
            values[name] = [cls(**item) for item in values[name]]
    return (AssetRecord if kind == "asset" else RefusalRecord)(**values)


def test_jsonl_round_trips_every_record(
    verdict_ledger: Ledger, records: dict[str, LedgerRecord]
) -> None:
    entries = _entries(verdict_ledger)
    out = io.StringIO()
    assert write_entries(entries, "jsonl", out) == len(records)
    documents = [json.loads(line) for line in out.getvalue().splitlines()]
    rebuilt = [_record_from_json(d["kind"], d["record"]) for d in documents]
    assert rebuilt == list(records.values())
    assert [d["verdict"] for d in documents] == [verdict_of(e) for e in entries]
    assert [(d["seq"], d["prev_hash"], d["row_hash"]) for d in documents] == [
        (e.seq, e.prev_hash, e.row_hash) for e in entries
    ]
    assert "ünïcode ✓" in out.getvalue()  # written as text, not \\u escapes


def test_csv_cells_hold_every_field(
    verdict_ledger: Ledger, records: dict[str, LedgerRecord]
) -> None:
    entries = _entries(verdict_ledger)
    out = io.StringIO()
    write_entries(entries, "csv", out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == len(entries)
    for row, entry in zip(rows, entries, strict=True):
        assert (row["kind"], row["id"], int(row["seq"])) == (entry.kind, entry.id, entry.seq)
        assert row["verdict"] == verdict_of(entry) and row["row_hash"] == entry.row_hash
        for field in fields(entry.record):
            value, cell = getattr(entry.record, field.name), row[field.name]
            if field.name in CHILDREN:
                assert json.loads(cell) == [
                    {f.name: getattr(item, f.name) for f in fields(item)} for item in value
                ]
            elif isinstance(value, dict):
                assert json.loads(cell) == value
            elif isinstance(value, datetime):
                assert datetime.fromisoformat(cell) == value
            elif value is None:
                assert cell == ""
            else:
                assert type(value)(cell) == value, field.name
    refusal = next(row for row in rows if row["kind"] == "refusal")
    assert refusal["asset_id"] == "" and refusal["path"] == "" and refusal["stage"] == "prompt"


def test_csv_keeps_awkward_text_verbatim(ledger: Ledger) -> None:
    prompt = '=HYPERLINK("http://x") , "quoted"\nsecond line; \'single\''
    ledger.append_asset(sample_asset(1, prompt=prompt, requester="a,b", project=None))
    out = io.StringIO()
    write_entries(_entries(ledger), "csv", out)
    (row,) = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert (row["prompt"], row["requester"], row["project"]) == (prompt, "a,b", "")
    params = json.loads(row["params"])
    assert params == {"steps": 20, "guidance": 7.5, "size": [64, 64], "eta": 1e-07}


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_entries_are_written_as_they_arrive(verdict_ledger: Ledger, fmt: str) -> None:
    """The writer never collects entries: each is on the page before the next is read."""
    entries = _entries(verdict_ledger)
    out = io.StringIO()
    header = 1 if fmt == "csv" else 0
    seen: list[int] = []

    def one_at_a_time() -> Iterator[LedgerEntry]:
        for entry in entries:
            seen.append(len(out.getvalue().splitlines()) - header)
            yield entry

    progress: list[int] = []
    count = write_entries(one_at_a_time(), fmt, out, progress=progress.append)
    assert seen == list(range(len(entries)))
    assert count == len(entries) == sum(progress)


def test_progress_is_reported_in_batches(ledger: Ledger) -> None:
    entry = ledger.append_asset(sample_asset(1))
    progress: list[int] = []
    assert write_entries([entry] * 250, "jsonl", io.StringIO(), progress.append) == 250
    assert progress == [100, 100, 50]


def test_unknown_format_is_bad_input() -> None:
    with pytest.raises(BadInputError, match="unknown export format 'xml'; choose one of csv"):
        write_entries([], "xml", io.StringIO())


def test_replaced_atomically_keeps_the_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "export.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), replaced_atomically(target) as fh:
        fh.write("half of the new")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["export.csv"]
    with replaced_atomically(target) as fh:
        fh.write("new\n")
    assert target.read_text() == "new\n" and os.listdir(tmp_path) == ["export.csv"]
    assert target.stat().st_mode & 0o777 == 0o644


def test_unwritable_destinations_are_named(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    cases = {
        tmp_path: "is a directory",
        tmp_path / "missing" / "out.csv": "missing does not exist",
        tmp_path / "file" / "out.csv": "file is not a directory",
    }
    for path, message in cases.items():
        with pytest.raises(BadInputError, match=message):
            check_writable(path)
        with pytest.raises(BadInputError, match=message), replaced_atomically(path):
            pass
    check_writable(tmp_path / "new.csv")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_places_are_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(BadInputError, match="is not writable"):
            check_writable(locked / "out.csv")
    finally:
        locked.chmod(0o700)
    frozen = tmp_path / "frozen.csv"
    frozen.write_text("keep")
    frozen.chmod(0o400)
    with pytest.raises(BadInputError, match="read-only"):
        check_writable(frozen)

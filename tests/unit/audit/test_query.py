"""Audit filters: dates, validation, selection, verdicts, bound parameters, paged reading."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from provenance.audit import query
from provenance.audit.query import (
    AuditFilter,
    count_entries,
    iter_entries,
    list_entries,
    newest_entries,
    parse_since,
    parse_until,
    verdict_of,
)
from provenance.errors import BadInputError
from provenance.ledger import Ledger, LedgerRecord

ALL = {"a1", "r1", "a2", "a3", "a4", "r2", "r3"}


def _names(records: dict[str, LedgerRecord]) -> dict[str, str]:
    return {record.id: name for name, record in records.items()}


def _selected(ledger: Ledger, records: dict[str, LedgerRecord], audit: AuditFilter) -> set[str]:
    """The names every reader selects; they must agree with each other."""
    names = _names(records)
    with ledger.read_snapshot() as conn:
        listed = {names[row["id"]] for row in list_entries(conn, audit, None)}
        streamed = [names[entry.id] for entry in iter_entries(conn, audit, page_size=2)]
        counted = count_entries(conn, audit)
    assert set(streamed) == listed and len(streamed) == len(listed)
    assert sum(counted.values()) == len(listed)
    assert counted.get("refusal", 0) == len([n for n in listed if n.startswith("r")])
    return listed


def test_days_and_times_parse_to_utc_bounds() -> None:
    day = datetime(2025, 1, 2, tzinfo=UTC)
    assert parse_since("2025-01-02") == day
    assert parse_until("2025-01-02") == day + timedelta(days=1)
    assert parse_since(" 2025-01-02T10:00 ") == day + timedelta(hours=10)
    assert parse_since("2025-01-02T12:00+02:00") == day + timedelta(hours=10)
    assert parse_since("2025-01-02T10:00:00Z") == day + timedelta(hours=10)
    assert parse_until("2025-01-02T10:00") == day + timedelta(hours=10, microseconds=1)
    tokyo = parse_since("2025-01-02T09:00+09:00")
    assert tokyo == day and tokyo.tzinfo == UTC


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2025-13-01", "2025-01-01' OR 1=1 --", "02/01/2025", "2025-01-0"]
)
def test_bad_times_are_bad_input(text: str) -> None:
    for parse in (parse_since, parse_until):
        with pytest.raises(BadInputError, match="is not a date"):
            parse(text)


def test_filter_values_are_checked() -> None:
    with pytest.raises(BadInputError, match="unknown verdict 'blocked'; choose one of allow"):
        AuditFilter(verdict="blocked")
    with pytest.raises(BadInputError, match="unknown entry kind"):
        AuditFilter(kind="assets")  # type: ignore[arg-type]
    moment = datetime(2025, 1, 1, tzinfo=UTC)
    with pytest.raises(BadInputError, match="is not before"):
        AuditFilter(since=moment, until=moment)
    assert AuditFilter(generator="gan", since=moment).as_dict() == {
        "since": "2025-01-01T00:00:00+00:00",
        "generator": "gan",
    }
    assert AuditFilter(kind="refusal").kinds == ("refusal",)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ALL),
        ({"generator": "gan"}, {"a1", "a3", "a4", "r3"}),
        ({"generator": "diffusion"}, {"r1", "a2"}),
        ({"requester": "bob"}, {"r1", "a3"}),
        ({"requester": "x' OR '1'='1"}, {"a2"}),
        ({"project": "p1"}, {"a1"}),
        ({"project": "launch"}, {"r1", "a3", "a4", "r2", "r3"}),
        ({"work": "W1"}, {"a1"}),
        ({"work": "W2"}, {"a3", "r2"}),
        ({"verdict": "allow"}, {"a2", "a4"}),
        ({"verdict": "warn"}, {"a1"}),
        ({"verdict": "needs_license"}, {"a3", "r2"}),
        ({"verdict": "block"}, {"r1", "r3"}),
        ({"kind": "refusal"}, {"r1", "r2", "r3"}),
        ({"kind": "asset", "requester": "bob"}, {"a3"}),
        ({"generator": "gan", "verdict": "allow"}, {"a4"}),
        ({"since": "2025-02-01"}, {"a3", "a4", "r2", "r3"}),
        ({"until": "2025-03-01"}, {"a1", "r1", "a2", "a3", "a4"}),
        ({"since": "2025-01-02T10:00", "until": "2025-01-02T10:00"}, {"a1"}),
        ({"since": "2025-01-02T11:00+01:00", "until": "2025-01-02T10:59:59.999999Z"}, {"a1"}),
        ({"since": "2025-03-01T23:59:59.999999", "until": "2025-03-02"}, {"a4", "r2"}),
    ],
)
def test_filters_select_exactly(
    verdict_ledger: Ledger,
    records: dict[str, LedgerRecord],
    filters: dict[str, Any],
    expected: set[str],
) -> None:
    values = dict(filters)
    if "since" in values:
        values["since"] = parse_since(values["since"])
    if "until" in values:
        values["until"] = parse_until(values["until"])
    assert _selected(verdict_ledger, records, AuditFilter(**values)) == expected


INJECTIONS = (
    "' OR '1'='1",
    "x' OR '1'='1' --",
    "gan'; DROP TABLE assets; --",
    'gan"; DROP TABLE refusals; --',
    "') OR ('a'='a",
    "%",
    "_",
    "g%",
    "W%",
    "1 OR 1=1",
    "gan' UNION SELECT asset_id FROM assets --",
)


@pytest.mark.parametrize("field", ["generator", "requester", "project", "work"])
def test_sql_in_a_filter_is_a_value_and_matches_nothing(
    verdict_ledger: Ledger, records: dict[str, LedgerRecord], field: str
) -> None:
    for payload in INJECTIONS:
        assert _selected(verdict_ledger, records, AuditFilter(**{field: payload})) == set()
    assert _selected(verdict_ledger, records, AuditFilter()) == ALL  # nothing was dropped


def test_sql_in_a_verdict_or_kind_is_refused() -> None:
    for payload in INJECTIONS:
        with pytest.raises(BadInputError):
            AuditFilter(verdict=payload)
        with pytest.raises(BadInputError):
            AuditFilter(kind=payload)  # type: ignore[arg-type]


def test_sql_and_python_verdicts_agree(
    verdict_ledger: Ledger, records: dict[str, LedgerRecord]
) -> None:
    names = _names(records)
    with verdict_ledger.read_snapshot() as conn:
        listed = {row["id"]: row["verdict"] for row in list_entries(conn, AuditFilter(), None)}
        entries = list(iter_entries(conn, AuditFilter()))
    assert {e.id: verdict_of(e) for e in entries} == listed
    assert {names[i]: v for i, v in listed.items()} == {
        "a1": "warn", "r1": "block", "a2": "allow", "a3": "needs_license",
        "a4": "allow", "r2": "needs_license", "r3": "block",
    }  # fmt: skip


def test_listing_is_newest_first_and_limited(
    verdict_ledger: Ledger, records: dict[str, LedgerRecord]
) -> None:
    names = _names(records)
    with verdict_ledger.read_snapshot() as conn:
        rows = list_entries(conn, AuditFilter(), 3)
        newest_assets = newest_entries(conn, "asset", AuditFilter(), 2)
    assert [names[r["id"]] for r in rows] == ["r3", "r2", "a4"]
    assert [r["seq"] for r in rows] == [7, 6, 5]
    assert rows[0]["created_at"] == "2025-03-03T12:00:00+00:00"
    assert (rows[0]["stage"], rows[0]["path"], rows[2]["stage"]) == ("image", None, None)
    assert [names[e.id] for e in newest_assets] == ["a4", "a3"]


def test_streaming_reads_bounded_pages_in_seq_order(
    verdict_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits: list[int | None] = []
    load = query._read.load

    def spy(conn: Any, kind: Any, where: Any, limit: int | None = None, **kw: Any) -> Any:
        limits.append(limit)
        return load(conn, kind, where, limit, **kw)

    monkeypatch.setattr(query._read, "load", spy)
    with verdict_ledger.read_snapshot() as conn:
        whole = [(e.seq, e.id) for e in iter_entries(conn, AuditFilter(), page_size=500)]
        for size in (1, 2, 3):
            limits.clear()
            paged = [(e.seq, e.id) for e in iter_entries(conn, AuditFilter(), page_size=size)]
            assert paged == whole
            assert limits and set(limits) == {size}
    assert [seq for seq, _ in whole] == list(range(1, 8))


def test_times_from_other_zones_compare_as_utc(verdict_ledger: Ledger) -> None:
    plus_two = timezone(timedelta(hours=2))
    since = datetime(2025, 3, 3, 14, tzinfo=plus_two)  # 12:00 UTC, the time of r3
    with verdict_ledger.read_snapshot() as conn:
        found = list_entries(conn, AuditFilter(since=since.astimezone(UTC)), None)
    assert [row["seq"] for row in found] == [7]

"""Row hashes do not depend on the engine: what one engine wrote, the other recomputes."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance.ledger import DecisionRecord, Ledger
from provenance.ledger._read import TABLES
from tests.integration.ledger.samples import sample_asset, sample_refusal

_ids = itertools.count()

JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=20),
)
JSON = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=60)


@pytest.fixture
def both(pg_url: str, tmp_path: Path) -> Iterator[tuple[Ledger, Ledger]]:
    """A SQLite ledger and a PostgreSQL ledger, both empty and migrated."""
    lite, pg = Ledger.sqlite(tmp_path / "lite.db"), Ledger.from_url(pg_url)
    for ledger in (lite, pg):
        ledger.upgrade()
    try:
        yield lite, pg
    finally:
        lite.close()
        pg.close()


def _copy_rows(source: Ledger, target: Ledger) -> None:
    """Copy every ledger row as the source engine returns it (types and all)."""
    with source.engine.connect() as src, target.engine.begin() as dst:
        for name in ("assets", "refusals", "policy_decisions", "attributions", "ingredients"):
            rows = [dict(r._mapping) for r in src.execute(sa.select(TABLES[name]))]
            if rows:
                dst.execute(TABLES[name].insert(), rows)
        head = src.execute(sa.text("SELECT seq, head_hash FROM ledger_head")).one()
        dst.execute(
            sa.text("UPDATE ledger_head SET seq = :s, head_hash = :h"), {"s": head[0], "h": head[1]}
        )


@pytest.mark.parametrize("direction", ["sqlite->postgresql", "postgresql->sqlite"])
def test_a_chain_written_on_one_engine_verifies_on_the_other(
    both: tuple[Ledger, Ledger], direction: str
) -> None:
    lite, pg = both
    source, target = (lite, pg) if direction.startswith("sqlite") else (pg, lite)
    source.append_many([sample_asset(1), sample_refusal(1), sample_asset(2, params={"x": 0.1})])
    _copy_rows(source, target)
    report = target.verify_chain()
    assert report.ok, report.describe()
    assert report.head_hash == source.head()[1]
    assert [e.row_hash for e in target.iter_entries()] == [
        e.row_hash for e in source.iter_entries()
    ]


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    prompt=TEXT,
    params=st.dictionaries(st.text(max_size=10), JSON, max_size=4),
    score=st.floats(allow_nan=False, allow_infinity=False),
    seed=st.integers(0, 2**63 - 1),
)
def test_arbitrary_values_round_trip_and_verify(
    ledger: Ledger, prompt: str, params: dict, score: float, seed: int
) -> None:
    n = next(_ids)
    decision = DecisionRecord(stage="image", policy="p", rule="r", action="warn", score=score)
    record = sample_asset(n, prompt=prompt, params=params, seed=seed, decisions=(decision,))
    entry = ledger.append_asset(record)
    got = ledger.get_asset(record.asset_id)
    assert got is not None and got.record == record
    assert math.copysign(1, got.record.decisions[0].score) == math.copysign(1, score)
    assert ledger.verify_entry(record.asset_id) and got.row_hash == entry.row_hash

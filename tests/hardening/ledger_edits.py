"""The ledger edit sweep: single edits behind the ledger's back, each one verified.

A 1,000-entry ledger (assets and refusals interleaved, with their decision, attribution and
ingredient rows) is edited with raw SQL, foreign keys off, as someone holding the database
file or a superuser login would: every column of every table the chain covers, on sampled
rows spread over the whole chain; rows deleted; rows forged and inserted; rows reordered.
After each edit the chain is verified; the edit is then undone exactly and the next begins.

An edit is *detected* when verification fails, and *named* when the first bad entry is the
edited one (an entry moved or deleted leaves a gap, reported at the place it left; a cut
from the end is a head mismatch at the head).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from provenance.ledger import Ledger
from provenance.ledger.coltypes import LedgerJSON, UTCDateTime
from provenance.ledger.db import create_engine
from provenance.ledger.models import assets, attributions, ingredients, policy_decisions, refusals
from provenance.ledger.rows import entry_rows
from tests.integration.ledger.samples import sample_asset, sample_refusal

CHILD_TABLES = {
    "policy_decisions": policy_decisions,
    "attributions": attributions,
    "ingredients": ingredients,
}
PARENT_TABLES = {"asset": assets, "refusal": refusals}
#: Every table the hash chain covers.
CHAINED = {"assets": assets, "refusals": refusals, **CHILD_TABLES}
OWNER = {"asset": "asset_id", "refusal": "refusal_id"}


def build(url: str, entries: int = 1_000, seed: int = 7) -> Ledger:
    """A migrated ledger of `entries` entries: 4 assets to 1 refusal, varied child rows."""
    rng = random.Random(seed)
    ledger = Ledger.from_url(url)
    ledger.upgrade()
    records: list[Any] = []
    for i in range(1, entries + 1):
        if i % 5 == 0:
            records.append(sample_refusal(i, requester=f"user{rng.randrange(50)}@x"))
        else:
            extra: dict[str, Any] = {"seed": rng.randrange(2**31)}
            if i % 7 == 0:
                extra.update(attributions=(), ingredients=())
            records.append(sample_asset(i, **extra))
    for start in range(0, len(records), 200):
        ledger.append_many(records[start : start + 200])
    return ledger


class Raw:
    """Raw SQL on the ledger's database with foreign keys off, one transaction per call."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)

    def run(self, statement: sa.Executable, params: dict[str, Any] | None = None) -> list[Any]:
        with self.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
                result = conn.execute(statement, params or {})
                return [dict(r._mapping) for r in result] if result.returns_rows else []

    def rows(self, table: sa.Table, where: Any = None) -> list[dict[str, Any]]:
        stmt = sa.select(table)
        if where is not None:
            stmt = stmt.where(where)
        return self.run(stmt.order_by(*table.primary_key.columns))

    def close(self) -> None:
        self.engine.dispose()


@dataclass(frozen=True)
class Case:
    """One edit: what it does, how to undo it, and where the chain must break."""

    op: str
    table: str
    column: str
    apply: Callable[[Raw], None]
    undo: Callable[[Raw], None]
    expect_seq: frozenset[int]
    label: str


@dataclass
class SweepResult:
    """Detected and named counts per (operation, table), and any edit that got through."""

    total: Counter[str] = field(default_factory=Counter)
    detected: Counter[str] = field(default_factory=Counter)
    named: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    missed: list[str] = field(default_factory=list)
    misnamed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "edits": sum(self.total.values()),
            "detected": sum(self.detected.values()),
            "named": sum(self.named.values()),
            "by_operation": {
                key: f"{self.detected[key]}/{n} detected, {self.named[key]} named"
                for key, n in sorted(self.total.items())
            },
            "reasons": dict(self.reasons),
            "missed": self.missed[:20],
            "misnamed": self.misnamed[:20],
        }


def _other(column: sa.Column[Any], old: Any) -> Any:
    """A different value of the column's type (what a careful forger would write)."""
    if isinstance(column.type, UTCDateTime):
        return (old or sample_asset(0).created_at) + timedelta(seconds=1)
    if isinstance(column.type, LedgerJSON):
        return {**old, "edited": True} if isinstance(old, dict) else {"edited": True}
    if isinstance(column.type, sa.Double):
        return (old or 0.0) + 0.125
    if isinstance(column.type, sa.Integer):  # BigInteger too
        return (old or 0) + 5_000
    if not old:
        return "x"
    return old[:-1] + ("~" if old[-1] != "~" else "!")


def _update(table: sa.Table, key: Any, column: str, value: Any) -> Callable[[Raw], None]:
    pk = table.primary_key.columns.values()[0]
    stmt = sa.update(table).where(pk == key).values({column: value})
    return lambda raw: raw.run(stmt) and None


class _Index:
    """Where each entry sits: seq by id, and child rows by owner."""

    def __init__(self, raw: Raw) -> None:
        self.entries: dict[int, tuple[str, dict[str, Any]]] = {}
        for kind, table in PARENT_TABLES.items():
            for row in raw.rows(table):
                self.entries[row["seq"]] = (kind, row)
        self.children: dict[str, list[dict[str, Any]]] = {
            n: raw.rows(t) for n, t in CHILD_TABLES.items()
        }
        self.seq_of = {row[OWNER[kind]]: seq for seq, (kind, row) in self.entries.items()}
        self.head = max(self.entries)

    def owner_seq(self, child: dict[str, Any]) -> int:
        return self.seq_of[child.get("asset_id") or child.get("refusal_id")]


def cases(raw: Raw, rows_per_column: int, seed: int = 11) -> Iterator[Case]:
    """Every operation on sampled rows (the first and last entry always among them)."""
    rng = random.Random(seed)
    index = _Index(raw)
    yield from _column_edits(index, rows_per_column, rng)
    yield from _deletions(index, rows_per_column, rng)
    yield from _insertions(index, rows_per_column, rng)
    yield from _reorders(index, rows_per_column, rng)


def _sample(items: list[Any], count: int, rng: random.Random) -> list[Any]:
    if len(items) <= count:
        return list(items)
    middle = rng.sample(items[1:-1], max(0, count - 2))
    return [items[0], *middle, items[-1]]


def _column_edits(index: _Index, count: int, rng: random.Random) -> Iterator[Case]:
    for kind, table in PARENT_TABLES.items():
        rows = [row for _, (k, row) in sorted(index.entries.items()) if k == kind]
        pk = table.primary_key.columns.values()[0].name
        for column in table.columns:
            for row in _sample(rows, count, rng):
                old, new = row[column.name], _other(column, row[column.name])
                seq = row["seq"]
                expect = {seq + 1, new} if column.name == "seq" else {seq}
                if column.name == "seq" and seq == index.head:
                    expect = {new}
                key_after = new if column.name == pk else row[pk]
                yield Case(
                    "edit",
                    table.name,
                    column.name,
                    _update(table, row[pk], column.name, new),
                    _update(table, key_after, column.name, old),
                    frozenset(expect),
                    f"{table.name}.{column.name} of seq {seq}",
                )
    for name, table in CHILD_TABLES.items():
        pk = table.primary_key.columns.values()[0].name
        for column in table.columns:
            rows = index.children[name]
            if column.name in OWNER.values():  # a decision has one owner (a CHECK constraint)
                rows = [r for r in rows if r[column.name] is not None]
            for row in _sample(rows, count, rng):
                old, new = row[column.name], _other(column, row[column.name])
                key_after = new if column.name == pk else row[pk]
                seq = index.owner_seq(row)
                yield Case("edit", name, column.name, _update(table, row[pk], column.name, new),
                           _update(table, key_after, column.name, old), frozenset({seq}),
                           f"{name}.{column.name} of {row[pk]}")  # fmt: skip


def _delete_rows(
    table: sa.Table, rows: list[dict[str, Any]]
) -> tuple[Callable[[Raw], None], Callable[[Raw], None]]:
    pk = table.primary_key.columns.values()[0]
    keys = [r[pk.name] for r in rows]

    def apply(raw: Raw) -> None:
        raw.run(sa.delete(table).where(pk.in_(keys)))

    def undo(raw: Raw) -> None:
        raw.run(sa.insert(table), rows)  # type: ignore[arg-type]

    return apply, undo


def _deletions(index: _Index, count: int, rng: random.Random) -> Iterator[Case]:
    seqs = _sample(sorted(index.entries), count, rng)
    for seq in seqs:
        kind, row = index.entries[seq]
        table = PARENT_TABLES[kind]
        apply, undo = _delete_rows(table, [row])  # children left behind, as a hasty forger would
        expect = frozenset({seq} if seq == index.head else {seq + 1})
        yield Case("delete", table.name, "-", apply, undo, expect, f"delete entry seq {seq}")
    for name, table in CHILD_TABLES.items():
        for child in _sample(index.children[name], count, rng):
            apply, undo = _delete_rows(table, [child])
            seq = index.owner_seq(child)
            yield Case(
                "delete",
                name,
                "-",
                apply,
                undo,
                frozenset({seq}),
                f"delete {name} row of seq {seq}",
            )


def _insertions(index: _Index, count: int, rng: random.Random) -> Iterator[Case]:
    _, head_row = index.entries[index.head]

    def forged(
        seq: int, prev: str, row_hash: str | None
    ) -> tuple[Callable[[Raw], None], Callable[[Raw], None]]:
        rows = entry_rows(
            sample_asset(900_000 + seq, request_id=f"forged-{seq}", image_index=0), seq, prev
        )
        if row_hash is not None:
            rows.row["row_hash"] = row_hash
        key = rows.row["asset_id"]

        def apply(raw: Raw) -> None:
            raw.run(sa.insert(assets), [rows.row])  # type: ignore[arg-type]
            for child_name, children in rows.children.items():
                raw.run(sa.insert(CHILD_TABLES[child_name]), children)  # type: ignore[arg-type]

        def undo(raw: Raw) -> None:
            for child_table in CHILD_TABLES.values():
                raw.run(sa.delete(child_table).where(child_table.c.asset_id == key))
            raw.run(sa.delete(assets).where(assets.c.asset_id == key))

        return apply, undo

    head = index.head
    appends = (
        (None, head, "append forged entry, hash recomputed"),  # honest hash, head not moved
        ("f" * 64, head + 1, "append forged entry, made-up hash"),
    )
    for row_hash, named, label in appends:
        apply, undo = forged(head + 1, head_row["row_hash"], row_hash)
        yield Case("insert", "assets", "-", apply, undo, frozenset({named}), label)
    for seq in _sample(
        sorted(s for s, (k, _) in index.entries.items() if k == "refusal"), count, rng
    ):
        prev = index.entries[seq - 1][1]["row_hash"] if seq > 1 else "0" * 64
        apply, undo = forged(seq, prev, None)  # an asset claiming a refusal's place
        yield Case(
            "insert", "assets", "-", apply, undo, frozenset({seq}), f"forged entry at seq {seq}"
        )
    for name, table in CHILD_TABLES.items():
        for child in _sample(index.children[name], count, rng):
            pk = table.primary_key.columns.values()[0].name
            extra = {**child, pk: f"{child[pk]}-forged", "position": child["position"] + 50}
            apply = _inserter(table, extra)
            undo = _update_delete(table, pk, extra[pk])
            seq = index.owner_seq(child)
            yield Case(
                "insert",
                name,
                "-",
                apply,
                undo,
                frozenset({seq}),
                f"forged {name} row for seq {seq}",
            )


def _inserter(table: sa.Table, row: dict[str, Any]) -> Callable[[Raw], None]:
    return lambda raw: raw.run(sa.insert(table), [row]) and None


def _update_delete(table: sa.Table, pk: str, key: str) -> Callable[[Raw], None]:
    return lambda raw: raw.run(sa.delete(table).where(table.c[pk] == key)) and None


def _reorders(index: _Index, count: int, rng: random.Random) -> Iterator[Case]:
    """Two entries trade places in the chain; two child rows trade positions."""
    seqs = sorted(index.entries)
    for seq in _sample(seqs[:-1], count, rng):
        (k1, r1), (k2, r2) = index.entries[seq], index.entries[seq + 1]
        t1, t2 = PARENT_TABLES[k1], PARENT_TABLES[k2]

        first = (t1, OWNER_KEY[t1.name], r1[OWNER_KEY[t1.name]])
        second = (t2, OWNER_KEY[t2.name], r2[OWNER_KEY[t2.name]])
        swap = _set_seqs([(*first, seq + 1), (*second, seq)])
        unswap = _set_seqs([(*first, seq), (*second, seq + 1)])
        yield Case(
            "reorder",
            f"{t1.name}+{t2.name}",
            "seq",
            swap,
            unswap,
            frozenset({seq}),
            f"entries {seq} and {seq + 1} swapped",
        )
    owners: dict[int, list[dict[str, Any]]] = {}
    for child in index.children["policy_decisions"]:
        owners.setdefault(index.owner_seq(child), []).append(child)
    pairs = [rows for _, rows in sorted(owners.items()) if len(rows) >= 2]
    table = policy_decisions
    for rows in _sample(pairs, count, rng):
        a, b = rows[0], rows[1]

        def positions(pa: int, pb: int, a: Any = a, b: Any = b) -> Callable[[Raw], None]:
            def apply(raw: Raw) -> None:  # via -1: positions are unique per owner
                column = table.c.decision_id
                raw.run(sa.update(table).where(column == a["decision_id"]).values(position=-1))
                raw.run(sa.update(table).where(column == b["decision_id"]).values(position=pb))
                raw.run(sa.update(table).where(column == a["decision_id"]).values(position=pa))

            return apply

        seq = index.owner_seq(a)
        trade = positions(b["position"], a["position"])
        restore = positions(a["position"], b["position"])
        yield Case("reorder", "policy_decisions", "position", trade, restore,
                   frozenset({seq}), f"decisions of seq {seq} reordered")  # fmt: skip


OWNER_KEY = {"assets": "asset_id", "refusals": "refusal_id"}


def _set_seqs(moves: list[tuple[sa.Table, str, Any, int]]) -> Callable[[Raw], None]:
    """Give entries new seqs (through negative ones first: seqs are unique per table)."""

    def apply(raw: Raw) -> None:
        for n, (table, column, key, _) in enumerate(moves):
            raw.run(sa.update(table).where(table.c[column] == key).values(seq=-1 - n))
        for table, column, key, seq in moves:
            raw.run(sa.update(table).where(table.c[column] == key).values(seq=seq))

    return apply


def sweep(
    ledger: Ledger, raw: Raw, rows_per_column: int, seed: int = 11, check_every: int = 10
) -> SweepResult:
    """Apply, verify and undo every case.

    Every `check_every` cases (and at the end) the whole chain must verify again: an undo
    that left damage behind would make every later detection meaningless, so it stops the
    sweep instead.
    """
    result = SweepResult()
    for number, case in enumerate(cases(raw, rows_per_column, seed), start=1):
        if number % check_every == 0:
            _require_intact(ledger, f"before {case.label}")
        key = f"{case.op} {case.table}"
        result.total[key] += 1
        try:
            case.apply(raw)
        except sa.exc.IntegrityError:  # a constraint the database enforces refused it
            result.total[key] -= 1
            result.reasons["refused by a database constraint"] += 1
            continue
        try:
            report = ledger.verify_chain()
        finally:
            case.undo(raw)
        bad = report.first_bad
        if report.ok or bad is None:
            result.missed.append(case.label)
            continue
        result.detected[key] += 1
        result.reasons[bad.reason] += 1
        if bad.seq in case.expect_seq:
            result.named[key] += 1
        else:
            result.misnamed.append(f"{case.label}: reported {bad.describe()[:160]}")
    _require_intact(ledger, "at the end of the sweep")
    return result


def _require_intact(ledger: Ledger, when: str) -> None:
    report = ledger.verify_chain()
    if not report.ok:
        raise RuntimeError(f"an undo left the chain broken ({when}): {report.describe()}")

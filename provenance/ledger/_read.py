"""Reading entries back as `EntryRows`: keyset pages in `seq` order, children attached.

Memory stays bounded however long the ledger is: each table is read a page at a time
(`seq > last ORDER BY seq LIMIT n`), child rows are fetched for the page's ids only, and the
two entry tables are merged by `seq` as streams.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from provenance.errors import LedgerError
from provenance.ledger import models
from provenance.ledger.canonical import ENTRY_TABLES
from provenance.ledger.records import EntryKind
from provenance.ledger.rows import EntryRows

PAGE_SIZE = 500
_IN_CHUNK = 500

TABLES: dict[str, sa.Table] = {
    "assets": models.assets,
    "refusals": models.refusals,
    "policy_decisions": models.policy_decisions,
    "attributions": models.attributions,
    "ingredients": models.ingredients,
}
#: Column of each child table naming its owner, per entry kind.
OWNER_COLUMN = {"asset": "asset_id", "refusal": "refusal_id"}
KINDS: tuple[EntryKind, ...] = ("asset", "refusal")


def parent_table(kind: EntryKind) -> sa.Table:
    """`assets` or `refusals`."""
    return TABLES[ENTRY_TABLES[kind][0]]


def seq_key(rows: EntryRows) -> tuple[int, Any]:
    """Order entries by seq; a mistyped (hand-edited) seq sorts after every integer."""
    seq = rows.seq
    return (0, seq) if isinstance(seq, int) else (1, repr(seq))


def load(
    conn: Connection,
    kind: EntryKind,
    where: ColumnElement[bool],
    limit: int | None = None,
    order_by: str = "seq",
) -> list[EntryRows]:
    """Entries of `kind` matching `where`, in `order_by` order, with their child rows."""
    table = parent_table(kind)
    stmt = sa.select(table).where(where).order_by(table.c[order_by], table.c.seq)
    if limit is not None:
        stmt = stmt.limit(limit)
    entries = [EntryRows(kind, dict(row._mapping)) for row in conn.execute(stmt)]
    _attach_children(conn, kind, entries)
    return entries


def _attach_children(conn: Connection, kind: EntryKind, entries: Sequence[EntryRows]) -> None:
    by_id = {entry.id: entry for entry in entries}
    owner = OWNER_COLUMN[kind]
    for table_name in ENTRY_TABLES[kind][1]:
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        table = TABLES[table_name]
        for chunk in _chunks(list(by_id), _IN_CHUNK):
            stmt = sa.select(table).where(table.c[owner].in_(chunk))
            for row in conn.execute(stmt):
                grouped[row._mapping[owner]].append(dict(row._mapping))
        for entry_id, entry in by_id.items():
            entry.children[table_name] = grouped.get(entry_id, [])


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def iter_kind(conn: Connection, kind: EntryKind, page_size: int = PAGE_SIZE) -> Iterator[EntryRows]:
    """Every entry of one kind in seq order, a page at a time."""
    seq = parent_table(kind).c.seq
    last: Any = None
    while True:
        where = sa.true() if last is None else seq > last
        page = load(conn, kind, where, limit=page_size)
        yield from page
        if len(page) < page_size:
            return
        last = page[-1].seq


def iter_all(conn: Connection, page_size: int = PAGE_SIZE) -> Iterator[EntryRows]:
    """Every entry (assets and refusals merged) in seq order."""
    streams: Iterable[Iterator[EntryRows]] = (iter_kind(conn, k, page_size) for k in KINDS)
    return heapq.merge(*streams, key=seq_key)


def iter_row_hashes(conn: Connection, upto: int, page_size: int = 10_000) -> Iterator[str]:
    """Stored row hashes of entries with seq <= `upto`, in seq order (for Merkle roots)."""
    last = 0
    while last < upto:
        high = min(last + page_size, upto)
        parts = [
            sa.select(t.c.seq, t.c.row_hash).where(t.c.seq > last, t.c.seq <= high)
            for t in (models.assets, models.refusals)
        ]
        rows = conn.execute(sa.union_all(*parts).order_by("seq")).all()
        for seq, row_hash in rows:
            last += 1
            if seq != last:
                return  # a gap or a duplicate: the caller sees a short or different stream
            yield row_hash
        if not rows or last < high:
            return


def count_rows(conn: Connection, table_name: str) -> int:
    """Number of rows in one ledger table."""
    return int(
        conn.execute(sa.select(sa.func.count()).select_from(TABLES[table_name])).scalar_one()
    )


def row_hash_at(conn: Connection, seq: int) -> str | None:
    """The stored row hash of the entry at `seq` (None when there is none)."""
    parts = [
        sa.select(t.c.row_hash).where(t.c.seq == seq) for t in (models.assets, models.refusals)
    ]
    return conn.execute(sa.union_all(*parts)).scalars().first()


def read_head(conn: Connection) -> tuple[int, str]:
    """The head row's (seq, head_hash) on an open connection."""
    row = conn.execute(sa.select(models.ledger_head.c.seq, models.ledger_head.c.head_hash)).first()
    if row is None:
        raise LedgerError("the ledger_head row is missing; the ledger cannot be appended to")
    return int(row.seq), str(row.head_hash)

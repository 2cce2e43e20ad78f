"""Hash-chain verification: recompute every entry from what the database holds.

The walk is in `seq` order over assets and refusals together, inside one read snapshot, a
page at a time.  It stops at the first bad entry and says why:

* `gap in seq` — an entry is missing (deleted) or a seq is not the next integer;
* `duplicate seq` — two entries claim the same place (a forged or re-numbered row);
* `broken link` — `prev_hash` is not the previous entry's `row_hash`;
* `hash mismatch` — the row or one of its child rows was edited, added or removed;
* `head mismatch` — `ledger_head` does not name the last entry (entries cut from the end);
* `orphan rows` — child rows that belong to no entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from provenance.errors import LedgerError
from provenance.ledger import _read, models
from provenance.ledger.canonical import ENTRY_TABLES, GENESIS_HASH
from provenance.ledger.rows import EntryRows

GAP, DUPLICATE, LINK, MISMATCH, HEAD, ORPHAN = (
    "gap in seq",
    "duplicate seq",
    "broken link",
    "hash mismatch",
    "head mismatch",
    "orphan rows",
)


@dataclass(frozen=True)
class BadEntry:
    """The first entry that fails verification, and why."""

    seq: int | None
    kind: str
    id: str
    reason: str
    detail: str

    def describe(self) -> str:
        """One line: `seq 17 (asset ast-1): hash mismatch: stored ..., recomputed ...`."""
        where = f"seq {self.seq} " if self.seq is not None else ""
        return f"{where}({self.kind} {self.id}): {self.reason}: {self.detail}"


@dataclass(frozen=True)
class ChainReport:
    """Result of `Ledger.verify_chain`: intact or not, how far it got, and the first bad entry."""

    ok: bool
    count: int
    head_seq: int
    head_hash: str
    first_bad: BadEntry | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (`audit verify-chain --json`)."""
        out = asdict(self)
        out["first_bad"] = asdict(self.first_bad) if self.first_bad else None
        return out

    def describe(self) -> str:
        """One line for humans."""
        if self.ok:
            return f"chain intact: {self.count} entries, head {self.head_hash}"
        assert self.first_bad is not None
        return f"chain broken at {self.first_bad.describe()}"


@dataclass
class _Walk:
    """State carried from one entry to the next while walking the chain."""

    last_seq: int = 0
    last_hash: str = GENESIS_HASH
    count: int = 0
    children_seen: dict[str, int] = field(default_factory=dict)

    def check(self, rows: EntryRows) -> BadEntry | None:
        """Check one entry against its predecessor; on success, advance past it."""
        bad = self._check_position(rows) or self._check_hashes(rows)
        if bad is None:
            self.last_seq, self.last_hash = rows.seq, rows.row["row_hash"]
            self.count += 1
            for table, children in rows.children.items():
                self.children_seen[table] = self.children_seen.get(table, 0) + len(children)
        return bad

    def _check_position(self, rows: EntryRows) -> BadEntry | None:
        seq, expected = rows.seq, self.last_seq + 1
        if not isinstance(seq, int) or isinstance(seq, bool):
            return _bad(rows, GAP, f"seq {seq!r} is not an integer")
        if seq == self.last_seq:
            return _bad(rows, DUPLICATE, f"another entry already holds seq {seq}")
        if seq != expected:
            return _bad(rows, GAP, f"expected seq {expected}; entries before it are missing")
        return None

    def _check_hashes(self, rows: EntryRows) -> BadEntry | None:
        stored_prev, stored = rows.row.get("prev_hash"), rows.row.get("row_hash")
        if stored_prev != self.last_hash:
            return _bad(
                rows, LINK, f"prev_hash {stored_prev} is not the previous row hash {self.last_hash}"
            )
        recomputed = rows.compute_hash(self.last_hash)
        if stored != recomputed:
            return _bad(rows, MISMATCH, f"stored row_hash {stored}, recomputed {recomputed}")
        return None

    def finish(self, head_seq: int, head_hash: str) -> BadEntry | None:
        """After the last entry: the head row must name it."""
        if (head_seq, head_hash) == (self.last_seq, self.last_hash):
            return None
        return BadEntry(
            seq=head_seq,
            kind="head",
            id="ledger_head",
            reason=HEAD,
            detail=f"ledger_head names seq {head_seq} ({head_hash}) but the last entry is "
            f"seq {self.last_seq} ({self.last_hash}); entries are missing from the end",
        )


def _bad(rows: EntryRows, reason: str, detail: str) -> BadEntry:
    seq = rows.seq if isinstance(rows.seq, int) else None
    return BadEntry(seq=seq, kind=rows.kind, id=rows.id, reason=reason, detail=detail)


def verify_chain(conn: Connection, *, progress: Callable[[int], None] | None = None) -> ChainReport:
    """Walk the whole chain on one read snapshot (`Ledger.verify_chain` opens it);
    `progress(n)` is called with the number of entries just checked."""
    head_seq, head_hash = _read.read_head(conn)
    walk = _Walk()
    bad = None
    for rows in _read.iter_all(conn):
        bad = walk.check(rows)
        if bad is not None:
            break
        if progress is not None and walk.count % _read.PAGE_SIZE == 0:
            progress(_read.PAGE_SIZE)
    if progress is not None:
        progress(walk.count % _read.PAGE_SIZE)
    if bad is None:
        bad = walk.finish(head_seq, head_hash) or _find_orphans(conn, walk.children_seen)
    return ChainReport(bad is None, walk.count, head_seq, head_hash, bad)


def _find_orphans(conn: Connection, seen: dict[str, int]) -> BadEntry | None:
    """Child rows not reached from any entry (possible only with constraints switched off)."""
    for table_name in ("policy_decisions", "attributions", "ingredients"):
        total = _read.count_rows(conn, table_name)
        if total != seen.get(table_name, 0):
            extra = total - seen.get(table_name, 0)
            return BadEntry(
                seq=None,
                kind=table_name,
                id=_orphan_id(conn, table_name) or "?",
                reason=ORPHAN,
                detail=f"{extra} row(s) of {table_name} belong to no ledger entry",
            )
    return None


def _orphan_id(conn: Connection, table_name: str) -> str | None:
    table = _read.TABLES[table_name]
    id_column = table.primary_key.columns.values()[0]
    owned = []
    for kind in _read.KINDS:
        parent, children = ENTRY_TABLES[kind]
        if table_name in children:
            owner = _read.OWNER_COLUMN[kind]
            parent_ids = sa.select(_read.TABLES[parent].c[owner])
            owned.append(sa.and_(table.c[owner].is_not(None), table.c[owner].in_(parent_ids)))
    stmt = sa.select(id_column).where(sa.not_(sa.or_(*owned))).limit(1)
    return conn.execute(stmt).scalar_one_or_none()


def verify_entry(conn: Connection, asset_id: str) -> bool:
    """One asset: its row hash recomputes, and its prev_hash is its predecessor's row hash."""
    table = models.assets
    found = _read.load(conn, "asset", table.c.asset_id == asset_id)
    if not found:
        raise LedgerError(f"no asset {asset_id!r} in the ledger")
    rows = found[0]
    seq = rows.seq
    if not isinstance(seq, int) or seq < 1:
        return False
    predecessor = GENESIS_HASH if seq == 1 else _read.row_hash_at(conn, seq - 1)
    prev = rows.row.get("prev_hash")
    return prev == predecessor and rows.row.get("row_hash") == rows.compute_hash(str(prev))

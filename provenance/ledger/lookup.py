"""Read-only, batched lookups of asset entries: the ledger as `provenant verify` reads it.

`verify` asks, for a whole batch of files at once, which assets have these SHA-256s, ids
or manifest labels, and whether each found row still hashes and links as the chain says.
That is a handful of queries per batch, over a plain DB-API connection: on the embedded
SQLite default the standard library's `sqlite3` (opened `mode=ro`, never created), so a
`verify` run loads neither SQLAlchemy nor Alembic; on PostgreSQL a raw connection from a
read-only SQLAlchemy engine (`provenance.ledger.db`), which keeps one URL parser and driver set-up.

Rows come back as the same Python values that the SQLAlchemy column types return
(`values` is shared with `coltypes`), so `canonical.row_hash` recomputes the stored hash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from provenance.errors import LedgerError
from provenance.ledger import canonical
from provenance.ledger.revision import schema_problem
from provenance.ledger.sqlite_ro import connect_read_only, plain_sqlite_path
from provenance.ledger.values import read_json_text, read_time

Row = dict[str, Any]

#: Values per `IN (...)` list: well under SQLite's and PostgreSQL's parameter limits.
IN_CHUNK = 400

#: Child tables of an asset entry, hashed with it.
_ASSET_CHILDREN = canonical.ENTRY_TABLES["asset"][1]


class AssetLookup:
    """One read-only connection to the ledger, answering batched questions about assets."""

    def __init__(
        self,
        connection: Any,
        *,
        dialect: str,
        display_url: str,
        errors: tuple[type[BaseException], ...],
        close: Callable[[], None],
    ) -> None:
        self._conn = connection
        self._dialect = dialect
        self._mark = "?" if dialect == "sqlite" else "%s"
        self.display_url = display_url
        self._errors = errors
        self._close = close

    @classmethod
    def open(cls, url: str, *, busy_timeout_ms: int = 30_000) -> AssetLookup:
        """Connect read-only; a missing SQLite file is `LedgerMissingError`, never created."""
        import sqlite3

        path = plain_sqlite_path(url)
        if path is not None:
            conn = connect_read_only(path, busy_timeout_ms)
            return cls(
                conn,
                dialect="sqlite",
                display_url=url,
                errors=(sqlite3.Error,),
                close=conn.close,
            )
        return cls._via_engine(url, busy_timeout_ms)

    @classmethod
    def _via_engine(cls, url: str, busy_timeout_ms: int) -> AssetLookup:
        """Any other URL: a raw connection of a read-only SQLAlchemy engine."""
        from sqlalchemy.exc import SQLAlchemyError

        from provenance.ledger.db import create_engine, redact

        engine = create_engine(url, busy_timeout_ms=busy_timeout_ms, pool_size=1, read_only=True)
        driver_errors = _driver_errors(engine.dialect.name)
        try:
            raw = engine.raw_connection()
        except SQLAlchemyError as exc:
            engine.dispose()
            raise LedgerError(f"opening the ledger ({redact(url)}): {_first_line(exc)}") from exc
        except LedgerError:
            engine.dispose()
            raise

        def close() -> None:
            raw.close()
            engine.dispose()

        return cls(
            raw,
            dialect=engine.dialect.name,
            display_url=redact(url),
            errors=(*driver_errors, SQLAlchemyError),
            close=close,
        )

    def close(self) -> None:
        """Release the connection."""
        self._close()

    # -- queries -----------------------------------------------------------------------------

    @contextmanager
    def snapshot(self, action: str = "reading the ledger") -> Iterator[None]:
        """One read transaction (every query inside sees the same ledger); errors become
        one-line `LedgerError`s."""
        try:
            if self._dialect == "sqlite":
                self._conn.execute("BEGIN")
            else:
                self._cursor("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").close()
            try:
                yield
            finally:
                self._end()
        except self._errors as exc:
            raise LedgerError(f"{action} ({self.display_url}): {_first_line(exc)}") from exc

    def _end(self) -> None:
        if self._dialect == "sqlite":
            self._conn.execute("COMMIT")
        else:
            self._conn.rollback()  # nothing was written: ending the read is all there is

    def check_schema(self) -> None:
        """Raise `LedgerError` unless the ledger is migrated to this version's head.

        One query on `alembic_version`; the expected head comes from `revision`.
        """
        with self.snapshot("reading the ledger's schema version"):
            current = self._current_revision()
        problem = schema_problem(current, self.display_url)
        if problem is not None:
            raise LedgerError(problem)

    def _current_revision(self) -> tuple[str, ...]:
        if self._dialect == "sqlite":
            exists = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        else:
            exists = "SELECT 1 WHERE to_regclass('alembic_version') IS NOT NULL"
        if not self._execute(exists):
            return ()
        rows = self._execute("SELECT version_num FROM alembic_version")
        return tuple(sorted(str(r[0]) for r in rows))

    def assets(self, *, sha256s: Iterable[str] = (), asset_ids: Iterable[str] = ()) -> list[Row]:
        """Asset rows whose file SHA-256 or asset id is one of these (indexed lookups)."""
        found: dict[str, Row] = {}
        wanted = [("sha256", sorted(set(sha256s))), ("asset_id", sorted(set(asset_ids)))]
        for column, values in wanted:
            for row in self._select_in("assets", column, values):
                found.setdefault(str(row["asset_id"]), row)
        return list(found.values())

    def assets_by_label(self, labels: Iterable[str]) -> list[Row]:
        """Asset rows recorded with one of these active manifest labels."""
        return self._select_in("assets", "manifest_label", sorted(set(labels)))

    def soft_bindings(self) -> list[tuple[str, int | None, str | None, bytes | None]]:
        """(asset id, watermark id, watermark alg, fingerprint) of every soft-bound asset."""
        rows = self._execute(
            "SELECT asset_id, watermark_id, watermark_alg, fingerprint FROM soft_bindings"
        )
        return [(str(a), w, alg, bytes(f) if f is not None else None) for a, w, alg, f in rows]

    def children(self, asset_ids: Iterable[str]) -> dict[str, dict[str, list[Row]]]:
        """{asset id: {child table: rows}} for these assets (every child table, maybe empty)."""
        ids = sorted(set(asset_ids))
        out: dict[str, dict[str, list[Row]]] = {i: {t: [] for t in _ASSET_CHILDREN} for i in ids}
        for table in _ASSET_CHILDREN:
            for row in self._select_in(table, "asset_id", ids):
                out[str(row["asset_id"])][table].append(row)
        return out

    def row_hashes_at(self, seqs: Iterable[int]) -> dict[int, str]:
        """{seq: stored row hash} of the entries (assets or refusals) at these positions."""
        out: dict[int, str] = {}
        for chunk in _chunks(sorted(set(seqs)), IN_CHUNK):
            marks = ", ".join([self._mark] * len(chunk))
            sql = (
                f"SELECT seq, row_hash FROM assets WHERE seq IN ({marks}) "
                f"UNION ALL SELECT seq, row_hash FROM refusals WHERE seq IN ({marks})"
            )
            for seq, row_hash in self._execute(sql, [*chunk, *chunk]):
                out.setdefault(seq, row_hash)
        return out

    def _select_in(self, table: str, column: str, values: Sequence[Any]) -> list[Row]:
        rows: list[Row] = []
        for chunk in _chunks(list(values), IN_CHUNK):
            marks = ", ".join([self._mark] * len(chunk))
            cursor = self._cursor(f"SELECT * FROM {table} WHERE {column} IN ({marks})", chunk)
            names = [d[0] for d in cursor.description]
            rows.extend(self._typed(table, dict(zip(names, r, strict=True))) for r in cursor)
        return rows

    def _typed(self, table: str, row: Row) -> Row:
        """Stored values as the SQLAlchemy column types return them (see `coltypes`)."""
        for column, kind in canonical.COLUMNS.get(table, {}).items():
            if column not in row:
                continue
            if kind == canonical.TIME:
                row[column] = read_time(row[column])
            elif kind == canonical.JSON and self._dialect == "sqlite":
                row[column] = read_json_text(row[column])
        return row

    def _cursor(self, sql: str, params: Sequence[Any] = ()) -> Any:
        cursor = self._conn.cursor()
        cursor.execute(sql, tuple(params))
        return cursor

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self._cursor(sql, params).fetchall())


def entry_intact(row: Row, children: dict[str, list[Row]], predecessor: str | None) -> bool:
    """Whether an asset row's hash recomputes and links to the entry before it.

    `predecessor`: the stored row hash at `seq - 1` (None when no entry holds it); the
    first entry links to the genesis hash.  Same test as `Ledger.verify_entry`.
    """
    seq = row.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        return False
    expected_prev = canonical.GENESIS_HASH if seq == 1 else predecessor
    prev = row.get("prev_hash")
    if prev != expected_prev:
        return False
    return row.get("row_hash") == canonical.row_hash(str(prev), "asset", row, children)


def _driver_errors(dialect: str) -> tuple[type[BaseException], ...]:
    if dialect == "postgresql":
        import psycopg

        return (psycopg.Error,)
    import sqlite3

    return (sqlite3.Error,)


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _first_line(exc: BaseException) -> str:
    """The database's own message, first line only (no SQL, no parameters)."""
    cause = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(cause).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(cause).__name__

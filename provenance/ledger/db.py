"""Database engines for the ledger and the known-works registry: one place for URLs and pragmas.

SQLite is the embedded default (WAL so readers never block the writer, a busy timeout so
concurrent writers wait instead of failing, foreign keys on); PostgreSQL is the production
engine (`PROVENANT_DATABASE_URL`).  `postgresql://` URLs are mapped to the psycopg 3 driver
we ship, so users can paste the URL their DBA gave them.

Read-only commands (`verify`, `audit ...`, `screen`) open SQLite with `read_only=True`: the
file is opened as a `mode=ro` URI, so no query can write, and a missing database is a
one-line error instead of a new empty file (an auditor pointing at the wrong data dir
must learn that, not find an empty ledger left behind).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import DeclarativeBase

from provenance.errors import ConfigError
from provenance.ledger.sqlite_ro import connect_read_only, missing_database_message

__all__ = [
    "Base",
    "begin_immediate",
    "create_engine",
    "missing_database_message",
    "normalise_url",
    "redact",
    "sqlite_file",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base for every Provenant table (ledger and known works)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def normalise_url(url: str) -> URL:
    """Parse a database URL, mapping plain PostgreSQL URLs to the psycopg 3 driver."""
    text = url.strip()
    for prefix in ("postgres://", "postgresql://"):
        if text.startswith(prefix):
            text = "postgresql+psycopg://" + text[len(prefix) :]
    try:
        parsed = make_url(text)
    except ArgumentError as exc:
        raise ConfigError(f"bad database URL {redact(url)!r}: {exc}") from exc
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"unsupported database {parsed.get_backend_name()!r} in {redact(url)!r}; "
            "use sqlite:/// or postgresql://"
        )
    return parsed


def redact(url: str | URL) -> str:
    """The URL with its password hidden, for messages and logs."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except ArgumentError:
        return "<unparseable URL>"
    return parsed.render_as_string(hide_password=True)


def create_engine(
    url: str, busy_timeout_ms: int = 30_000, pool_size: int = 5, *, read_only: bool = False
) -> Engine:
    """An engine with the pragmas and pool settings Provenant relies on.

    `read_only`: SQLite connections are `mode=ro` and the file must exist (a missing one
    raises `LedgerError` at the first connection); PostgreSQL sessions are read-only
    transactions.  Otherwise a missing SQLite file (and its folder) is created.
    """
    import sqlalchemy as sa

    parsed = normalise_url(url)
    kwargs: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        on_disk = bool(database) and database != ":memory:"
        if read_only and on_disk:
            kwargs["creator"] = _read_only_sqlite(Path(str(database)), busy_timeout_ms)
        else:
            if on_disk:
                Path(str(database)).expanduser().parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": busy_timeout_ms / 1000, "isolation_level": None}
        engine = sa.create_engine(parsed, **kwargs)
        _install_sqlite_pragmas(engine, busy_timeout_ms, read_only=read_only and on_disk)
        return engine
    kwargs.update(
        pool_size=pool_size,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 10, "application_name": "provenant"},
    )
    engine = sa.create_engine(parsed, **kwargs)
    if read_only:
        _install_postgres_read_only(engine)
    return engine


def _install_postgres_read_only(engine: Engine) -> None:
    """Every session's transactions are READ ONLY (set per connection, keeping URL options)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        autocommit = dbapi_conn.autocommit
        dbapi_conn.autocommit = True
        with dbapi_conn.cursor() as cur:
            cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        dbapi_conn.autocommit = autocommit


def sqlite_file(url: str) -> Path | None:
    """The file of an on-disk SQLite URL (None for PostgreSQL and in-memory SQLite)."""
    parsed = normalise_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database).expanduser()


def _read_only_sqlite(path: Path, busy_timeout_ms: int) -> Any:
    """A connection factory opening `path` as a read-only URI, never creating it."""

    def connect() -> sqlite3.Connection:
        return connect_read_only(path, busy_timeout_ms)

    return connect


def _install_sqlite_pragmas(engine: Engine, busy_timeout_ms: int, *, read_only: bool) -> None:
    """WAL + busy timeout + foreign keys on every connection; transactions begin explicitly.

    The sqlite3 driver is put in autocommit mode (`isolation_level=None`) so that SQLAlchemy's
    `begin` event can issue `BEGIN` itself: writers that must serialise (the ledger head) ask
    for `BEGIN IMMEDIATE` through `begin_immediate`.  Read-only connections leave the
    journal mode and synchronous setting alone (changing either is a write).
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        if not read_only:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        if not read_only:
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.info.pop("provenant_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def begin_immediate(conn: Any) -> None:
    """Ask that the next transaction on this SQLite connection take the write lock at once.

    Call before `conn.begin()`; a no-op on PostgreSQL (which serialises with row locks).
    """
    if conn.dialect.name == "sqlite":
        conn.info["provenant_begin"] = "IMMEDIATE"

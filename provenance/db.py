"""Database engines for the ledger and the known-works registry: one place for URLs and pragmas.

SQLite is the embedded default (WAL so readers never block the writer, a busy timeout so
concurrent writers wait instead of failing, foreign keys on); PostgreSQL is the production
engine (`PROVENANT_DATABASE_URL`).  `postgresql://` URLs are mapped to the psycopg 3 driver
we ship, so users can paste the URL their DBA gave them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import DeclarativeBase

from provenance.errors import ConfigError

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


def create_engine(url: str, busy_timeout_ms: int = 30_000, pool_size: int = 5) -> Engine:
    """An engine with the pragmas and pool settings Provenant relies on."""
    import sqlalchemy as sa

    parsed = normalise_url(url)
    kwargs: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": busy_timeout_ms / 1000, "isolation_level": None}
        engine = sa.create_engine(parsed, **kwargs)
        _install_sqlite_pragmas(engine, busy_timeout_ms)
        return engine
    kwargs.update(
        pool_size=pool_size,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 10, "application_name": "provenant"},
    )
    return sa.create_engine(parsed, **kwargs)


def _install_sqlite_pragmas(engine: Engine, busy_timeout_ms: int) -> None:
    """WAL + busy timeout + foreign keys on every connection; transactions begin explicitly.

    The sqlite3 driver is put in autocommit mode (`isolation_level=None`) so that SQLAlchemy's
    `begin` event can issue `BEGIN` itself: writers that must serialise (the ledger head) ask
    for `BEGIN IMMEDIATE` through `begin_immediate`.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
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

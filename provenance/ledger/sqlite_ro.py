"""Opening an on-disk SQLite database read-only, without SQLAlchemy.

`provenant verify` reads the ledger on every run, and importing SQLAlchemy costs more than
verifying a file; for the embedded default it connects with the standard library instead.
`provenance.ledger.db` uses the same functions for its read-only engines, so both paths open the
file the same way: as a `mode=ro` URI (no query can write), and never create it.
"""

from __future__ import annotations

import sqlite3
import urllib.parse
from pathlib import Path

from provenance.errors import LedgerMissingError


def plain_sqlite_path(url: str) -> Path | None:
    """The file of a plain `sqlite:///PATH` URL (the form `Settings` writes), else None.

    None for anything that needs SQLAlchemy's URL parser to be read right (query options,
    percent escapes, in-memory databases, other engines): callers then fall back to it.
    """
    text = url.strip()
    prefix = "sqlite:///"
    if not text.startswith(prefix) or any(c in text for c in "?%#"):
        return None
    database = text[len(prefix) :]
    if not database or database == ":memory:":
        return None
    return Path(database).expanduser()


def missing_database_message(path: Path) -> str:
    """What to tell a user whose SQLite ledger does not exist (never created on a read)."""
    return (
        f"no ledger database at {path} (not initialised): run `provenant init` (or "
        "`provenant db upgrade`), or point PROVENANT_HOME / PROVENANT_DATABASE_URL at the "
        "studio's ledger"
    )


def connect_read_only(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    """A `mode=ro` connection to an existing file; `LedgerMissingError` if there is none.

    Autocommit at the driver (`isolation_level=None`): callers begin their own read
    transactions, so that several queries see one snapshot.
    """
    absolute = path.absolute()
    if not absolute.is_file():
        raise LedgerMissingError(missing_database_message(absolute))
    uri = f"file:{urllib.parse.quote(str(absolute))}?mode=ro"
    return sqlite3.connect(
        uri,
        uri=True,
        timeout=busy_timeout_ms / 1000,
        isolation_level=None,
        check_same_thread=False,
    )

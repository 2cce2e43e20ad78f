"""Schema migrations with Alembic, driven from code so they work from an installed wheel.

`provenant db upgrade` and `provenant init` call `upgrade`; every command that needs the
ledger calls `require_current` first, so an unmigrated database is a clear error rather than
a failing INSERT.  Reading the revision never creates a database: a SQLite file that does
not exist is at no revision, and `require_current` says that no ledger exists there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from provenance.errors import LedgerError, LedgerMissingError, translate_errors
from provenance.ledger.db import create_engine, missing_database_message, redact, sqlite_file


def _config(url: str) -> Any:
    from alembic.config import Config

    from provenance import migrations

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (default: newest)."""
    from alembic import command

    with translate_errors(f"migrating {redact(url)}", override=LedgerError):
        command.upgrade(_config(url), revision)


def head_revision() -> str:
    """The newest revision this version of Provenant knows (as Alembic's script directory
    says; `provenance.ledger.revision` reads the same answer without importing Alembic)."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(_config("sqlite://")).get_heads()
    if len(heads) != 1:
        raise LedgerError(f"migrations have {len(heads)} heads; expected one")
    return heads[0]


def current_revision(url: str) -> str | None:
    """The revision the database is at (None for an empty or absent database)."""
    import sqlalchemy as sa

    path = sqlite_file(url)
    if path is not None and not path.is_file():
        return None
    engine = create_engine(url, read_only=True)
    try:
        with (
            translate_errors(f"reading schema version of {redact(url)}", override=LedgerError),
            engine.connect() as conn,
        ):
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def require_current(url: str) -> None:
    """Raise `LedgerError` unless the database is migrated to this version's head."""
    path = sqlite_file(url)
    if path is not None and not path.is_file():
        raise LedgerMissingError(missing_database_message(path.absolute()))
    from provenance.ledger.revision import schema_problem

    problem = schema_problem(current_revision(url), redact(url))
    if problem is not None:
        raise LedgerError(problem)

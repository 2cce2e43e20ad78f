"""Schema migrations with Alembic, driven from code so they work from an installed wheel.

`provenant db upgrade` and `provenant init` call `upgrade`; every command that needs the
ledger calls `require_current` first, so an unmigrated database is a clear error rather than
a failing INSERT.  Reading the revision never creates a database: a SQLite file that does
not exist is at no revision, and `require_current` says that no ledger exists there.

Plugins add tables through the `provenant.migrations` entry-point group: each entry names a
package whose directory holds Alembic revisions, passed to Alembic as one more of its
`version_locations`.  A plugin's revisions form their own branch (`branch_labels`, with
`depends_on` a core revision), so the schema has one head per branch: `upgrade` goes to
`heads`, and a database is current when its revisions are exactly those heads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from provenance.errors import (
    LedgerError,
    LedgerMissingError,
    translate_errors,
)
from provenance.ledger import revision
from provenance.ledger.db import create_engine, missing_database_message, redact, sqlite_file

# The revision locations (core first, then each plugin's) and the expected heads are read in
# `provenance.ledger.revision`, which needs neither Alembic nor SQLAlchemy.
MIGRATIONS_GROUP = revision.MIGRATIONS_GROUP
version_locations = revision.version_locations


def _config(url: str) -> Any:
    from alembic.config import Config

    from provenance import migrations

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(str(p) for p in version_locations()))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the database at `url` to `revision` (default: the newest of every branch)."""
    from alembic import command

    with translate_errors(f"migrating {redact(url)}", override=LedgerError):
        command.upgrade(_config(url), revision)


def head_revisions() -> tuple[str, ...]:
    """The newest revision of every branch (core and plugins) this installation knows."""
    from alembic.script import ScriptDirectory

    with translate_errors("reading the migration scripts", override=LedgerError):
        return tuple(sorted(ScriptDirectory.from_config(_config("sqlite://")).get_heads()))


def head_revision() -> str:
    """The heads as one display string (`a, b`), comparable with `current_revision`."""
    return ", ".join(head_revisions())


def current_revision(url: str) -> str | None:
    """The database's revisions as one display string (None for an empty or absent one)."""
    revisions = current_revisions(url)
    return ", ".join(revisions) if revisions else None


def current_revisions(url: str) -> tuple[str, ...]:
    """The revisions recorded in the database, one per applied branch head, sorted."""
    import sqlalchemy as sa

    path = sqlite_file(url)
    if path is not None and not path.is_file():
        return ()
    engine = create_engine(url, read_only=True)
    try:
        with (
            translate_errors(f"reading schema version of {redact(url)}", override=LedgerError),
            engine.connect() as conn,
        ):
            if not sa.inspect(conn).has_table("alembic_version"):
                return ()
            rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
            return tuple(sorted(str(r) for r in rows))
    finally:
        engine.dispose()


def require_current(url: str) -> None:
    """Raise `LedgerError` unless the database is migrated to this version's head."""
    path = sqlite_file(url)
    if path is not None and not path.is_file():
        raise LedgerMissingError(missing_database_message(path.absolute()))
    from provenance.ledger.revision import schema_problem

    problem = schema_problem(current_revisions(url), redact(url))
    if problem is not None:
        raise LedgerError(problem)

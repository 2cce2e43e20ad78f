"""`provenant db upgrade|current`: create or migrate the ledger database schema."""

from __future__ import annotations

import typer

from provenance.cli import _output
from provenance.cli._output import JsonOption
from provenance.cli._state import state

db_app = typer.Typer(name="db", no_args_is_help=True, help="Manage the ledger database schema.")


def _revisions(url: str) -> tuple[str | None, str]:
    from provenance.ledger import migrate

    return migrate.current_revision(url), migrate.head_revision()


@db_app.command("upgrade")
def upgrade(ctx: typer.Context, json: JsonOption = False) -> None:
    """Create the ledger tables, or migrate them to this version's schema (idempotent)."""
    from provenance.ledger import migrate
    from provenance.ledger.db import redact

    url = state(ctx).settings.database_url
    before = migrate.current_revision(url)
    migrate.upgrade(url)
    after = migrate.current_revision(url)
    result = {"url": redact(url), "from": before, "to": after, "changed": before != after}
    if json:
        _output.emit_json(result)
    elif before == after:
        _output.info(f"ledger database {redact(url)} is up to date at {after}")
    else:
        _output.info(f"ledger database {redact(url)} upgraded from {before or 'empty'} to {after}")


@db_app.command("current")
def current(ctx: typer.Context, json: JsonOption = False) -> None:
    """Show the database's schema revision and whether it is this version's newest."""
    from provenance.ledger.db import redact

    url = state(ctx).settings.database_url
    revision, head = _revisions(url)
    result = {"url": redact(url), "current": revision, "head": head, "up_to_date": revision == head}
    if json:
        _output.emit_json(result)
        return
    status = "up to date" if revision == head else f"behind {head}: run `provenant db upgrade`"
    _output.info(f"{redact(url)}: {revision or 'not initialised'} ({status})")


def register(app: typer.Typer) -> None:
    """Add the `db` group."""
    app.add_typer(db_app, name="db")

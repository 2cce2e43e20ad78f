"""Alembic environment: runs Provenant's revisions against the configured URL.

On PostgreSQL an advisory lock serialises concurrent upgrades (several workers starting at
once must not race to create the same tables).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from provenance.ledger.db import Base, create_engine

_MIGRATION_LOCK = 0x70726F76  # "prov"


def run_migrations_online() -> None:
    """Connect and apply the pending revisions inside one transaction."""
    url = context.config.get_main_option("sqlalchemy.url")
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
                connection.commit()
            try:
                context.configure(
                    connection=connection,
                    target_metadata=Base.metadata,
                    render_as_batch=connection.dialect.name == "sqlite",
                    transaction_per_migration=False,
                )
                with context.begin_transaction():
                    context.run_migrations()
                connection.commit()
            finally:
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK}
                    )
                    connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():  # pragma: no cover - we never generate SQL scripts offline
    raise SystemExit("offline migrations are not supported; run `provenant db upgrade`")
run_migrations_online()

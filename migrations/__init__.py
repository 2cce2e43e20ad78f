"""The core's Alembic revisions (`versions/`) and environment (`env.py`).

Plugins add their own revisions through the `provenant.migrations` entry-point group, as a
branch that depends on a core revision; `provenance.ledger.migrate` runs them all.

May import: kernel, `provenance.ledger.db`, `provenance.ledger.coltypes`.
"""

"""The `provenant audit` command group, shared by every module that adds audit commands.

Modules define their commands on `audit_app` and call `attach(app)` from their
`register(app)`; the group is added to the root app once, however many modules attach it.
"""

from __future__ import annotations

import typer

audit_app = typer.Typer(
    name="audit",
    no_args_is_help=True,
    help="Audit the ledger: verify the hash chain, sign checkpoints, query and report.",
)

_attached: set[int] = set()


def attach(app: typer.Typer) -> None:
    """Add the `audit` group to `app` (idempotent)."""
    if id(app) not in _attached:
        app.add_typer(audit_app, name="audit")
        _attached.add(id(app))

"""`provenant audit lineage FILE|ASSET_ID`: the chain of steps behind a file, from the ledger.

Each step from the first input to the file: human or model, actor, actions, time, policy
verdict and licence, then a summary line.  A step that is missing (not in the ledger, or
its file gone) or flagged (its credentials failed when it was used) is named, and the
command then exits 4: the chain is not clean.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from provenance.cli import _output
from provenance.cli._audit_group import attach, audit_app
from provenance.cli._output import JsonOption
from provenance.cli._state import state
from provenance.errors import EXIT_OK, EXIT_VERIFICATION_FAILED


@audit_app.command("lineage")
def lineage(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="A file, or an asset id from the ledger.")],
    as_json: JsonOption = False,
) -> None:
    """Show who did what: each step from the first input to the file, and a summary."""
    from provenance.credentials.lineage import lineage_of
    from provenance.ledger import Ledger

    with Ledger.from_settings(state(ctx).settings, read_only=True) as ledger:
        ledger.require_current()
        found = lineage_of(ledger, target)
    if as_json:
        _output.emit_json(found.as_dict())
    else:
        for line in found.lines():
            _output.info(escape(line))
    raise typer.Exit(EXIT_OK if found.clean else EXIT_VERIFICATION_FAILED)


def register(app: typer.Typer) -> None:
    """Add `audit lineage` to the shared `audit` group."""
    attach(app)

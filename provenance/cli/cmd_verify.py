"""`provenant verify PATH...`: content credentials, trust in the signer, and the ledger record.

Exit codes: 0 when every file is trusted (and matches the ledger when it is checked), 4 when
any file fails verification (invalid, untrusted, no credentials, ledger mismatch), 1 when
files could not be read but none failed verification.  A bad file never stops the batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from provenance.cli import _output
from provenance.cli._output import JsonOption
from provenance.cli._state import state
from provenance.errors import BadInputError

if TYPE_CHECKING:
    from provenance.verify.verifier import VerificationReport


def register(app: typer.Typer) -> None:
    """Add `verify` to the app."""
    app.command("verify")(verify)


def verify(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Image files or directories (with -r).")],
    recursive: Annotated[
        bool, typer.Option("-r", "--recursive", help="Verify the images inside directories.")
    ] = False,
    trust_anchors: Annotated[
        list[Path] | None,
        typer.Option("--trust-anchors", help="Extra trusted root certificates (PEM); repeatable."),
    ] = None,
    cawg_trust_anchors: Annotated[
        list[Path] | None,
        typer.Option(
            "--cawg-trust-anchors",
            help="Extra roots for CAWG identity credentials (PEM), apart from signers'; "
            "repeatable.",
        ),
    ] = None,
    json: JsonOption = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1, help="Parallel workers (default: one per CPU for batches)."
        ),
    ] = None,
    no_ledger: Annotated[
        bool, typer.Option("--no-ledger", help="Skip the ledger cross-check.")
    ] = False,
    tree: Annotated[
        bool, typer.Option("--tree", help="Show manifests, assertions, ingredients.")
    ] = False,
    certs: Annotated[
        bool, typer.Option("--certs", help="Show the signer's certificate chain.")
    ] = False,
    detailed: Annotated[
        bool, typer.Option("--detailed", help="Show c2pa's detailed manifest JSON.")
    ] = False,
) -> None:
    """Verify C2PA content credentials, trust in the signer, and the ledger record.

    Exit 0 when every file is trusted (and matches the ledger), 4 when any file fails
    verification, 1 when files could not be read.
    """
    from provenance.verify.verifier import (
        Verifier,
        default_ledger_check,
        default_workers,
        exit_code,
        expand_paths,
    )

    views = [name for name, on in (("tree", tree), ("certs", certs), ("detailed", detailed)) if on]
    if len(views) > 1:
        raise typer.BadParameter(
            f"choose one of --tree, --certs, --detailed (got {', '.join(views)})"
        )
    settings = state(ctx).settings
    files = expand_paths(paths, recursive)
    if not files:
        raise BadInputError("no images to verify in " + ", ".join(str(p) for p in paths))
    ledger_check = None if no_ledger else default_ledger_check(settings)
    verifier = Verifier(
        settings,
        trust_anchors or (),
        ledger_check,
        details=bool(views),
        extra_cawg_anchors=cawg_trust_anchors or (),
    )
    count = workers or default_workers(len(files))
    reports = _run(verifier.verify_many(files, workers=count), len(files), json)
    if not json:
        _show(reports, views[0] if views else "summary")
    raise typer.Exit(exit_code(reports))


def _run(
    results: Iterable[VerificationReport], total: int, as_json: bool
) -> list[VerificationReport]:
    """Collect reports in order under a progress bar; with --json, print each as it comes."""
    reports: list[VerificationReport] = []
    with _output.progress("verifying", total=total, enabled=total > 1) as bar:
        for report in results:
            reports.append(report)
            if as_json:
                _output.emit_json(report.to_dict())
            bar.advance()
    return reports


def _show(reports: list[VerificationReport], view: str) -> None:
    from provenance.verify import views

    if view == "summary":
        views.render_summary(reports, _output.stdout)
        return
    render = {
        "tree": views.render_tree,
        "certs": views.render_certs,
        "detailed": views.render_detailed,
    }[view]
    for report in reports:
        render(report, _output.stdout)
    _output.info(views.summary_line(reports))

"""`provenant demo`: the main job end to end in one directory (see `provenance.demo.run`)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from provenance.cli import _output
from provenance.cli._output import JsonOption

if TYPE_CHECKING:
    from provenance.pipeline.batch import RequestOutcome


def register(app: typer.Typer) -> None:
    """Add `demo` to the app."""
    app.command("demo")(demo)


def demo(
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Where to run (default: a new temporary directory)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Run the whole pipeline on sample data: generate, refuse, sign, record, verify, report."""
    from provenance.cli.cmd_generate import print_outcome
    from provenance.demo.run import run_demo

    started = time.monotonic()
    where = directory or Path(tempfile.mkdtemp(prefix="provenant-demo-"))
    quiet = as_json

    def say(message: str) -> None:
        if not quiet:
            _output.info(f"[bold]•[/] {message}")

    def on_outcome(outcome: RequestOutcome) -> None:
        if not quiet:
            print_outcome(outcome, False)

    say(f"demo directory: {where.absolute()}")
    report = run_demo(where, say, on_outcome)
    if as_json:
        _output.emit_json({**report.as_dict(), "seconds": round(time.monotonic() - started, 1)})
        return
    batch = report.batch
    counts = ", ".join(f"{v} {k}" for k, v in (batch.counts if batch else {}).items() if v)
    chain = "intact" if report.chain_ok else "BROKEN"
    home = report.home
    _output.info(
        f"\n[bold]done in {time.monotonic() - started:.0f} s[/]: {counts}; "
        f"ledger chain {chain} ({report.chain_count} entries)\n"
        f"  outputs: {report.outputs}\n"
        f"  ledger:  {home / 'ledger.db'}\n"
        + (f"  report:  {report.report_html}\n" if report.report_html else "")
        + "try:\n"
        f"  provenant --home {home} verify -r {report.outputs}\n"
        f"  provenant --home {home} audit verify-chain\n"
        f"  provenant --home {home} generate --batch {where / 'requests.jsonl'} "
        f"--out {report.outputs}   # resumes: nothing is redone"
    )

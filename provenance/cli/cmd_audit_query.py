"""`provenant audit list|show|export|reconcile|report`: the auditor's questions to the ledger.

The same filter options (`--since`, `--until`, `--generator`, `--requester`, `--project`,
`--work`, `--verdict`, `--kind`) select the same entries in `list`, `export` and `report`.
A filter value that cannot be used (a date that is not one, an unknown verdict) is a usage
error: one line on stderr, exit 2.  `show`, `reconcile` and `report` exit 4 when what they
check does not verify (a row whose hash does not recompute, a file that differs from its
record, a broken chain).  Heavy work reports progress on stderr; `--json` prints one JSON
object per line on stdout.
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from provenance.cli import _output
from provenance.cli._audit_group import attach, audit_app
from provenance.cli._audit_text import list_line, plain, say, show_entry, show_problems
from provenance.cli._output import JsonOption
from provenance.cli._state import state
from provenance.errors import (
    EXIT_VERIFICATION_FAILED,
    BadInputError,
    ChainBrokenError,
    UsageError,
    VerificationError,
)

if TYPE_CHECKING:
    from provenance.audit.progress import ProgressFactory, Tracker
    from provenance.audit.query import AuditFilter
    from provenance.audit.reconcile import ReconcileReport
    from provenance.ledger import Ledger
    from provenance.ledger.records import EntryKind

SinceOption = Annotated[
    str | None,
    typer.Option(
        "--since", metavar="DATE", help="Recorded on or after this day or time (UTC, ISO-8601)."
    ),
]
UntilOption = Annotated[
    str | None,
    typer.Option(
        "--until", metavar="DATE", help="Recorded up to and including this day or time (UTC)."
    ),
]
GeneratorOption = Annotated[str | None, typer.Option("--generator", help="Only this generator.")]
ModelOption = Annotated[str | None, typer.Option("--model", help="Only this model (card name).")]
RequesterOption = Annotated[str | None, typer.Option("--requester", help="Only this requester.")]
ProjectOption = Annotated[str | None, typer.Option("--project", help="Only this project.")]
WorkOption = Annotated[
    str | None, typer.Option("--work", help="Only entries crediting or naming this known work id.")
]
VerdictOption = Annotated[
    str | None,
    typer.Option("--verdict", help="Only this verdict: allow, warn, needs_license or block."),
]
KindOption = Annotated[
    str | None, typer.Option("--kind", help="Only signed outputs (asset) or refusals (refusal).")
]

DEFAULT_LIST_LIMIT = 100


def register(app: typer.Typer) -> None:
    """Add `audit list|show|export|reconcile|report` to the shared `audit` group."""
    attach(app)


# -- shared helpers ---------------------------------------------------------------------------


def _audit_filter(
    since: str | None,
    until: str | None,
    generator: str | None,
    requester: str | None,
    project: str | None,
    work: str | None,
    verdict: str | None,
    kind: str | None,
    model: str | None = None,
) -> AuditFilter:
    """The filter the options describe; a value that cannot be used is a usage error."""
    from provenance.audit.query import AuditFilter, parse_since, parse_until

    try:
        return AuditFilter(
            since=parse_since(since) if since is not None else None,
            until=parse_until(until) if until is not None else None,
            generator=generator,
            model=model,
            requester=requester,
            project=project,
            work=work,
            verdict=verdict,
            kind=cast("EntryKind | None", kind),  # checked by AuditFilter
        )
    except BadInputError as exc:
        raise UsageError(str(exc)) from exc


def _open(ctx: typer.Context) -> Ledger:
    from provenance.audit.query import open_ledger

    return open_ledger(state(ctx).settings)


def _progress_factory(enabled: bool) -> ProgressFactory:
    """A `ProgressFactory` drawing rich bars on stderr (none when `enabled` is False)."""

    def factory(description: str, total: int | None) -> AbstractContextManager[Tracker]:
        return _output.progress(description, total, enabled=enabled)

    return factory


# -- list -------------------------------------------------------------------------------------


@audit_app.command("list")
def list_command(
    ctx: typer.Context,
    since: SinceOption = None,
    until: UntilOption = None,
    generator: GeneratorOption = None,
    model: ModelOption = None,
    requester: RequesterOption = None,
    project: ProjectOption = None,
    work: WorkOption = None,
    verdict: VerdictOption = None,
    kind: KindOption = None,
    limit: Annotated[
        int, typer.Option("--limit", help="Show at most this many entries, newest first (0: all).")
    ] = DEFAULT_LIST_LIMIT,
    json: JsonOption = False,
) -> None:
    """List signed outputs and refusals, newest first."""
    from provenance.audit.query import count_entries, list_entries

    if limit < 0:
        raise UsageError(f"--limit must be 0 (all) or a positive number, got {limit}")
    audit = _audit_filter(since, until, generator, requester, project, work, verdict, kind, model)
    with _open(ctx) as ledger, ledger.read_snapshot("listing ledger entries") as conn:
        rows = list_entries(conn, audit, limit or None)
        total = sum(count_entries(conn, audit).values())
    if json:
        _output.emit_json_lines(rows)
    else:
        for row in rows:
            say(list_line(row))
    note = f"{len(rows)} of {total} matching entries"
    if len(rows) < total:
        _output.stderr.print(f"{note}; use --limit or `audit export` for more", markup=False)
    elif not json:
        say(note)


# -- show -------------------------------------------------------------------------------------


@audit_app.command("show")
def show(
    ctx: typer.Context,
    key: Annotated[
        str, typer.Argument(metavar="ASSET_ID|PATH", help="Asset or refusal id, SHA-256, or file.")
    ],
    json: JsonOption = False,
    manifest: Annotated[
        Path | None,
        typer.Option(
            "--manifest",
            metavar="OUT.c2pa",
            help="Write the asset's stored manifest store (a C2PA sidecar) to this file.",
        ),
    ] = None,
) -> None:
    """Everything the ledger holds about one entry or file; exit 4 if it does not verify."""
    from provenance.audit.show import lookup

    with _open(ctx) as ledger:
        found = lookup(ledger, key)
        if manifest is not None:
            _write_manifest(ledger, found.as_dicts(), manifest)
    documents = found.as_dicts()
    problems = [p for document in documents for p in show_problems(document)]
    if json:
        _output.emit_json_lines(documents)
    else:
        for document in documents:
            show_entry(document)
    if problems:
        if json:
            raise typer.Exit(EXIT_VERIFICATION_FAILED)
        raise VerificationError(f"{key}: " + "; ".join(problems))


def _write_manifest(ledger: Ledger, documents: list[dict], out: Path) -> None:
    """The stored manifest store of the (one) asset found, as a `.c2pa` sidecar file."""
    assets = [d.get("id") for d in documents if d.get("kind") == "asset"]
    if len(assets) != 1:
        raise BadInputError("--manifest needs exactly one asset; give its asset id")
    row = ledger.soft_binding(str(assets[0]))
    if row is None or not row.get("manifest_store"):
        raise BadInputError(f"{assets[0]}: the ledger holds no manifest store for this asset")
    if out.exists():
        raise BadInputError(f"{out}: already exists; refusing to overwrite it")
    try:
        out.write_bytes(bytes(row["manifest_store"]))
    except OSError as exc:
        raise BadInputError(f"{out}: cannot write ({exc.strerror or exc})") from exc
    _output.stderr.print(f"wrote the manifest store of {assets[0]} to {out}", markup=False)


# -- export -----------------------------------------------------------------------------------


@audit_app.command("export")
def export(
    ctx: typer.Context,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="csv (spreadsheets) or jsonl (lossless).")
    ] = "jsonl",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file (default: stdout).")
    ] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    generator: GeneratorOption = None,
    model: ModelOption = None,
    requester: RequesterOption = None,
    project: ProjectOption = None,
    work: WorkOption = None,
    verdict: VerdictOption = None,
    kind: KindOption = None,
    json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Machine output: entries as JSON Lines on stdout, or with --out one JSON "
            "summary (file, format, count).",
        ),
    ] = False,
) -> None:
    """Export matching entries as CSV or JSON Lines, streamed (any ledger size).

    With `--json` and no `--out`, the entries themselves are the machine output, so they
    are JSON Lines (`--format csv` is refused); with `--out`, stdout carries one summary.
    """
    from provenance.audit.export import FORMATS, check_writable, replaced_atomically, write_entries
    from provenance.audit.query import count_entries, iter_entries

    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if json and out is None and fmt != "jsonl":
        raise UsageError("--json writes the entries as JSON Lines; use --out FILE for csv")
    audit = _audit_filter(since, until, generator, requester, project, work, verdict, kind, model)
    if out is not None:
        check_writable(out)
    with _open(ctx) as ledger, ledger.read_snapshot("exporting the ledger") as conn:
        total = sum(count_entries(conn, audit).values())
        with _output.progress(f"exporting {fmt}", total) as bar:
            entries = iter_entries(conn, audit)
            if out is None:
                count = write_entries(entries, fmt, sys.stdout, bar.advance)
            else:
                with replaced_atomically(out) as fh:
                    count = write_entries(entries, fmt, fh, bar.advance)
    if out is not None and json:
        _output.emit_json({"out": str(out), "format": fmt, "entries": count})
    elif out is not None:
        say(f"{count} entries written to {out} ({fmt})")


# -- reconcile --------------------------------------------------------------------------------


@audit_app.command("reconcile")
def reconcile(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Output directory to check.")],
    recursive: Annotated[
        bool, typer.Option("-r", "--recursive", help="Also check subdirectories.")
    ] = False,
    allow_unknown: Annotated[
        bool,
        typer.Option("--allow-unknown", help="Report files with no record, but do not fail."),
    ] = False,
    workers: Annotated[
        int | None, typer.Option("--workers", help="Threads hashing files (default: per CPU).")
    ] = None,
    json: JsonOption = False,
) -> None:
    """Compare files with the ledger: missing, modified, unknown, partial (exit 4 if any)."""
    from provenance.audit.reconcile import reconcile as run_reconcile

    if workers is not None and workers < 1:
        raise UsageError(f"--workers must be at least 1, got {workers}")
    with _open(ctx) as ledger:
        report = run_reconcile(
            ledger,
            directory,
            recursive=recursive,
            workers=workers,
            progress=_progress_factory(not json),
        )
    _show_reconcile(report, allow_unknown, json)


def _show_reconcile(report: ReconcileReport, allow_unknown: bool, json: bool) -> None:
    summary = report.summary(allow_unknown)
    if json:
        _output.emit_json_lines([f.as_dict() for f in report.findings])
        _output.emit_json(summary)
        if not summary["ok"]:
            raise typer.Exit(EXIT_VERIFICATION_FAILED)
        return
    for finding in report.findings:
        say(f"{finding.status:<9}{plain(finding.path)}: {finding.detail}")
    counts = ", ".join(f"{n} {status}" for status, n in report.counts().items())
    say(
        f"{report.directory}: {report.recorded} recorded, {report.files} image files, "
        f"{report.matched} match; {counts}"
    )
    if not summary["ok"]:
        failing = sum(1 for f in report.findings if not (allow_unknown and f.status == "unknown"))
        raise VerificationError(f"{report.directory} does not reconcile: {failing} findings")


# -- report -----------------------------------------------------------------------------------


@audit_app.command("report")
def report(
    ctx: typer.Context,
    html: Annotated[Path, typer.Option("--html", help="Write the HTML report to this file.")],
    since: SinceOption = None,
    until: UntilOption = None,
    generator: GeneratorOption = None,
    model: ModelOption = None,
    requester: RequesterOption = None,
    project: ProjectOption = None,
    work: WorkOption = None,
    verdict: VerdictOption = None,
    kind: KindOption = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", help="Assets and refusals listed one by one (default 500)."),
    ] = None,
    json: JsonOption = False,
) -> None:
    """Write one self-contained HTML page for a studio lead; exit 4 if the chain is broken."""
    from provenance.audit.page import write_report
    from provenance.audit.report import DEFAULT_ROW_LIMIT, summary

    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1, got {limit}")
    audit = _audit_filter(since, until, generator, requester, project, work, verdict, kind, model)
    with _open(ctx) as ledger:
        data = write_report(
            ledger,
            html,
            audit,
            row_limit=limit or DEFAULT_ROW_LIMIT,
            progress=_progress_factory(not json),
        )
    totals = data.totals()
    if json:
        _output.emit_json({"html": str(html), **summary(data)})
        if not data.chain.ok:
            raise typer.Exit(EXIT_VERIFICATION_FAILED)
        return
    say(
        f"report written to {html}: {totals['entries']} entries "
        f"({totals['asset']} signed outputs, {totals['refusal']} refusals)"
    )
    if not data.chain.ok:
        raise ChainBrokenError(data.chain.describe())
    say(data.chain.describe())

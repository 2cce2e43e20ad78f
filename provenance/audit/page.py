"""`audit report` end to end: gather the numbers, make thumbnails, render, write atomically.

This is the one module that knows both halves of the report: `report` computes the data
and `render` turns it into HTML; neither imports the other's caller, so the two stay
free of cycles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provenance.audit.export import check_writable, replaced_atomically
from provenance.audit.progress import ProgressFactory, no_progress
from provenance.audit.query import AuditFilter
from provenance.audit.render import render_html
from provenance.audit.report import DEFAULT_ROW_LIMIT, ReportData, gather
from provenance.audit.thumbnails import make_thumbnails
from provenance.ledger.records import AssetRecord, LedgerEntry

if TYPE_CHECKING:
    from pathlib import Path

    from provenance.ledger import Ledger


def write_report(
    ledger: Ledger,
    out: Path,
    audit: AuditFilter | None = None,
    *,
    row_limit: int = DEFAULT_ROW_LIMIT,
    progress: ProgressFactory = no_progress,
) -> ReportData:
    """Build the HTML report of `audit`'s entries and write it to `out` (replaced atomically).

    Returns the numbers the page shows, so callers can print a summary.
    """
    check_writable(out)
    audit = audit or AuditFilter()
    with progress("verifying ledger chain", ledger.head()[0]) as bar:
        data = gather(ledger, audit, row_limit=row_limit, progress=bar.advance)
    files = [_recorded_file(entry) for entry in data.assets]
    with progress("making thumbnails", len(files)) as bar:
        thumbnails = make_thumbnails(files, progress=bar.advance)
    page = render_html(data, thumbnails)
    with replaced_atomically(out) as fh:
        fh.write(page)
    return data


def _recorded_file(entry: LedgerEntry) -> tuple[str, str]:
    record = entry.record
    assert isinstance(record, AssetRecord)
    return record.path, record.sha256

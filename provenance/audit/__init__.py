"""The auditor's view of the ledger: queries, exports, reconciliation and the HTML report.

    >>> from provenance.audit import AuditFilter, write_report            # doctest: +SKIP
    >>> with Ledger.sqlite(".provenant/ledger.db") as ledger:              # doctest: +SKIP
    ...     write_report(ledger, Path("report.html"), AuditFilter(generator="gan"))

`query` turns one `AuditFilter` into SQL (bound parameters only) for every command;
`show` finds everything about one entry or file; `export` streams CSV or JSON Lines;
`reconcile` compares an output directory with what the ledger recorded; `report` (the
numbers), `render`, `charts` and `thumbnails` make the self-contained HTML page, and `page`
puts them together.

May import: kernel, ledger, verify, `provenance.serve.templating` (the Jinja2 templates
that the HTML report shares with the dashboard).
"""

from __future__ import annotations

from provenance.audit.export import FORMATS, write_entries
from provenance.audit.page import write_report
from provenance.audit.query import (
    VERDICTS,
    AuditFilter,
    count_entries,
    iter_entries,
    list_entries,
    open_ledger,
    parse_since,
    parse_until,
    verdict_of,
)
from provenance.audit.reconcile import Finding, ReconcileReport, reconcile
from provenance.audit.report import ReportData, gather
from provenance.audit.show import Lookup, lookup

__all__ = [
    "FORMATS",
    "VERDICTS",
    "AuditFilter",
    "Finding",
    "Lookup",
    "ReconcileReport",
    "ReportData",
    "count_entries",
    "gather",
    "iter_entries",
    "list_entries",
    "lookup",
    "open_ledger",
    "parse_since",
    "parse_until",
    "reconcile",
    "verdict_of",
    "write_entries",
    "write_report",
]

"""The dashboard's view of a report: `report_view` (shared with `audit report --html`) and
thumbnails of the listed assets, made by the report's own thumbnailer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provenance.audit.render import report_view
from provenance.audit.thumbnails import make_thumbnails
from provenance.ledger.records import AssetRecord

if TYPE_CHECKING:
    from provenance.audit.report import ReportData


def dashboard_view(data: ReportData) -> dict[str, Any]:
    """Everything `audit.html` shows for one filtered view."""
    files = [
        (e.record.path, e.record.sha256) for e in data.assets if isinstance(e.record, AssetRecord)
    ]
    return {
        "view": report_view(data, make_thumbnails(files)),
        "chain": data.chain,
        "filters": data.filters.as_dict(),
    }

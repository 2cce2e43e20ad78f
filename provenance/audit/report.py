"""`audit report`: the numbers behind the HTML page, computed by the database.

Totals, per-generator and per-verdict counts, counts per day, refusal reasons and
attributions are SQL aggregates over *every* matching entry, however many there are; only
the tables of individual assets and refusals are capped (newest first), and the page says
so.  The chain badge comes from a full `verify_chain`, which is never filtered: integrity
is a property of the whole ledger.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from provenance.audit.query import (
    AuditFilter,
    id_column,
    newest_entries,
    parent_table,
    verdict_column,
    where_clause,
)
from provenance.ledger import models
from provenance.ledger.records import EntryKind, LedgerEntry

if TYPE_CHECKING:
    from provenance.ledger import Ledger
    from provenance.ledger.chain import ChainReport


#: Default number of assets (and of refusals) listed one by one.
DEFAULT_ROW_LIMIT = 500
_REFUSING_ACTIONS = ("block", "needs_license")


@dataclass(frozen=True)
class DayCount:
    """How many entries of one kind, generator and verdict were recorded on one UTC day."""

    day: str
    kind: str
    generator: str | None
    verdict: str
    count: int


@dataclass(frozen=True)
class ReasonCount:
    """How often one policy rule refused a request, and its highest score."""

    policy: str
    rule: str
    count: int
    max_score: float


@dataclass(frozen=True)
class WorkCount:
    """Assets crediting one known work under one licence."""

    work_id: str
    title: str
    license: str | None
    assets: int
    max_similarity: float


@dataclass
class ReportData:
    """Everything the page shows.  Counts derive from `days`, which covers every entry."""

    generated_at: datetime
    ledger: str
    filters: AuditFilter
    chain: ChainReport
    days: list[DayCount]
    reasons: list[ReasonCount]
    works: list[WorkCount]
    assets: list[LedgerEntry] = field(default_factory=list)
    refusals: list[LedgerEntry] = field(default_factory=list)
    row_limit: int = DEFAULT_ROW_LIMIT

    def totals(self) -> dict[str, int]:
        """Entries per kind (`asset`, `refusal`) and `entries` for both."""
        counts = Counter({"asset": 0, "refusal": 0})
        for day in self.days:
            counts[day.kind] += day.count
        return {"entries": counts.total(), **counts}

    def by_generator(self) -> list[tuple[str | None, int, int]]:
        """(generator, assets, refusals), busiest generator first."""
        counts: dict[str | None, Counter[str]] = {}
        for day in self.days:
            counts.setdefault(day.generator, Counter())[day.kind] += day.count
        rows = [(name, c["asset"], c["refusal"]) for name, c in counts.items()]
        return sorted(rows, key=lambda row: (-(row[1] + row[2]), row[0] or ""))

    def by_verdict(self) -> dict[str, Counter[str]]:
        """Per verdict: entries per kind."""
        out: dict[str, Counter[str]] = {}
        for day in self.days:
            out.setdefault(day.verdict, Counter())[day.kind] += day.count
        return out


def gather(
    ledger: Ledger,
    audit: AuditFilter,
    *,
    row_limit: int = DEFAULT_ROW_LIMIT,
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> ReportData:
    """Verify the chain, then read every aggregate and the newest rows in one snapshot."""
    chain = ledger.verify_chain(progress=progress)
    with ledger.read_snapshot("reading the ledger for a report") as conn:
        kinds = audit.kinds
        return ReportData(
            generated_at=now or datetime.now(UTC),
            ledger=ledger.display_url,
            filters=audit,
            chain=chain,
            days=day_counts(conn, audit),
            reasons=refusal_reasons(conn, audit) if "refusal" in kinds else [],
            works=work_counts(conn, audit) if "asset" in kinds else [],
            assets=newest_entries(conn, "asset", audit, row_limit) if "asset" in kinds else [],
            refusals=(
                newest_entries(conn, "refusal", audit, row_limit) if "refusal" in kinds else []
            ),
            row_limit=row_limit,
        )


def _day(conn: Connection, kind: EntryKind) -> sa.ColumnElement[str]:
    """The UTC calendar day of an entry as `YYYY-MM-DD`, on either engine."""
    created = parent_table(kind).c.created_at
    if conn.dialect.name == "postgresql":
        utc = sa.func.timezone(sa.literal_column("'UTC'"), created)
        return sa.func.to_char(utc, sa.literal_column("'YYYY-MM-DD'"), type_=sa.String)
    # SQLite stores `UTCDateTime` as fixed-width UTC text that starts with the day.
    return sa.func.substr(created, 1, 10, type_=sa.String)


def day_counts(conn: Connection, audit: AuditFilter) -> list[DayCount]:
    """Matching entries grouped by UTC day, kind, generator and verdict (all of them)."""
    parts = [
        sa.select(
            sa.literal_column(f"'{kind}'", sa.String).label("kind"),  # kind is one of KINDS
            _day(conn, kind).label("day"),
            parent_table(kind).c.generator,
            verdict_column(kind).label("verdict"),
        ).where(where_clause(kind, audit))
        for kind in audit.kinds
    ]
    facts = (parts[0] if len(parts) == 1 else sa.union_all(*parts)).subquery("facts")
    keys = (facts.c.day, facts.c.kind, facts.c.generator, facts.c.verdict)
    stmt = sa.select(*keys, sa.func.count()).group_by(*keys).order_by(facts.c.day)
    return [DayCount(*row) for row in conn.execute(stmt)]


def refusal_reasons(conn: Connection, audit: AuditFilter) -> list[ReasonCount]:
    """The policy rules that refused matching requests, most frequent first."""
    decisions, refusals = models.policy_decisions, models.refusals
    count = sa.func.count()
    stmt = (
        sa.select(decisions.c.policy, decisions.c.rule, count, sa.func.max(decisions.c.score))
        .join_from(decisions, refusals, decisions.c.refusal_id == id_column("refusal"))
        .where(where_clause("refusal", audit), decisions.c.action.in_(_REFUSING_ACTIONS))
        .group_by(decisions.c.policy, decisions.c.rule)
        .order_by(count.desc(), decisions.c.policy, decisions.c.rule)
    )
    return [ReasonCount(p, r, int(n), float(s)) for p, r, n, s in conn.execute(stmt)]


def work_counts(conn: Connection, audit: AuditFilter) -> list[WorkCount]:
    """Known works credited on matching assets, per work and licence, most credited first."""
    credits, assets = models.attributions, models.assets
    count = sa.func.count(sa.distinct(credits.c.asset_id))
    stmt = (
        sa.select(
            credits.c.work_id,
            sa.func.max(credits.c.title),
            credits.c.license,
            count,
            sa.func.max(credits.c.similarity),
        )
        .join_from(credits, assets, credits.c.asset_id == id_column("asset"))
        .where(where_clause("asset", audit))
        .group_by(credits.c.work_id, credits.c.license)
        .order_by(count.desc(), credits.c.work_id)
    )
    return [WorkCount(w, t, lic, int(n), float(s)) for w, t, lic, n, s in conn.execute(stmt)]


def summary(data: ReportData) -> dict[str, Any]:
    """The numbers of a report as one JSON object (`audit report --json`)."""
    return {
        "generated_at": data.generated_at.isoformat(),
        "filters": data.filters.as_dict(),
        "totals": data.totals(),
        "by_generator": [
            {"generator": g, "assets": a, "refusals": r} for g, a, r in data.by_generator()
        ],
        "by_verdict": {v: dict(c) for v, c in sorted(data.by_verdict().items())},
        "refusal_reasons": [asdict(r) for r in data.reasons],
        "attributions": [asdict(w) for w in data.works],
        "chain": data.chain.as_dict(),
    }

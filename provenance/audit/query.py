"""Audit filters, turned into SQL over the ledger tables with bound parameters only.

One `AuditFilter` drives `audit list`, `export` and `report`, so the same flags select the
same entries everywhere.  Every value a user typed (a generator name, a requester, a work
id, a date) reaches the database as a bound parameter, never as SQL text: a requester
called `x' OR '1'='1` matches only a requester of exactly that name.

An entry's *verdict* is the strictest action among its recorded policy decisions (allow <
warn < needs_license < block; a policy layer that could not run is recorded as `warn`, so
an output that was not fully screened is never shown as `allow`).  A refusal's verdict is
the action it was refused with.  `SEVERITY` and `verdict_of` state that rule in Python;
`verdict_column` states it in SQL, and tests hold the two to agreement.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from provenance.errors import BadInputError
from provenance.ledger import _read, models
from provenance.ledger.records import AssetRecord, EntryKind, LedgerEntry

if TYPE_CHECKING:
    from provenance.config import Settings
    from provenance.ledger import Ledger

VERDICTS: tuple[str, ...] = ("allow", "warn", "needs_license", "block")
KINDS: tuple[EntryKind, ...] = ("asset", "refusal")
#: Strictness of each action (higher is stricter); unknown actions rank as `allow`.
SEVERITY: dict[str, int] = {verdict: rank for rank, verdict in enumerate(VERDICTS)}
_ID_COLUMN = {"asset": "asset_id", "refusal": "refusal_id"}
_PAGE = _read.PAGE_SIZE


@dataclass(frozen=True)
class AuditFilter:
    """Which entries an audit command looks at.  `None` means "any".

    `since` is inclusive and `until` exclusive (`parse_until` turns the day a user names
    into the midnight after it); both are aware UTC datetimes.
    """

    since: datetime | None = None
    until: datetime | None = None
    generator: str | None = None
    model: str | None = None
    requester: str | None = None
    project: str | None = None
    work: str | None = None
    verdict: str | None = None
    kind: EntryKind | None = None

    def __post_init__(self) -> None:
        if self.verdict is not None and self.verdict not in SEVERITY:
            raise BadInputError(
                f"unknown verdict {self.verdict!r}; choose one of {', '.join(VERDICTS)}"
            )
        if self.kind is not None and self.kind not in KINDS:
            raise BadInputError(f"unknown entry kind {self.kind!r}; choose asset or refusal")
        if self.since and self.until and self.since >= self.until:
            raise BadInputError(
                f"--since {self.since.isoformat()} is not before --until {self.until.isoformat()}"
            )

    @property
    def kinds(self) -> tuple[EntryKind, ...]:
        """The entry kinds this filter can match."""
        return KINDS if self.kind is None else (self.kind,)

    def as_dict(self) -> dict[str, Any]:
        """The filters that are set, JSON-ready (report headers, `--json` summaries)."""
        return {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in asdict(self).items()
            if value is not None
        }


def parse_since(text: str) -> datetime:
    """`2025-01-02` (that day's start, UTC) or an ISO-8601 time (naive means UTC)."""
    return _parse_time(text, end_of_day=False)


def parse_until(text: str) -> datetime:
    """The exclusive bound for `--until`: a day includes all of that day, a time itself."""
    return _parse_time(text, end_of_day=True)


def _parse_time(text: str, *, end_of_day: bool) -> datetime:
    value = text.strip()
    try:
        day = date.fromisoformat(value)
    except ValueError:
        pass
    else:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return start + timedelta(days=1) if end_of_day else start
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadInputError(
            f"{text!r} is not a date (YYYY-MM-DD) or an ISO-8601 time (YYYY-MM-DDTHH:MM[:SS][Z])"
        ) from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    # Stored times have microsecond resolution, so "up to and including t" is "< t + 1 µs".
    return moment + timedelta(microseconds=1) if end_of_day else moment


def open_ledger(settings: Settings) -> Ledger:
    """The settings' ledger, read-only, checked to be migrated (else a one-line `LedgerError`).

    Audits only look: the ledger is opened read-only and a missing one is reported, never
    created.
    """
    from provenance.ledger import Ledger

    ledger = Ledger.from_settings(settings, read_only=True)
    with ExitStack() as cleanup:
        cleanup.callback(ledger.close)  # only if the check below raises
        ledger.require_current()
        cleanup.pop_all()
    return ledger


# -- the verdict rule ------------------------------------------------------------------------


def verdict_of(entry: LedgerEntry) -> str:
    """An entry's verdict: its strictest decision (assets) or its refusal action."""
    record = entry.record
    if not isinstance(record, AssetRecord):
        return record.action
    rank = max((SEVERITY.get(d.action, 0) for d in record.decisions), default=0)
    return VERDICTS[rank]


def _severity_of(action: sa.ColumnElement[Any]) -> sa.ColumnElement[int]:
    return sa.case(SEVERITY, value=action, else_=0)


def severity_column(kind: EntryKind) -> sa.ColumnElement[int]:
    """SQL for an entry's verdict rank, correlated to its parent table."""
    if kind == "refusal":
        return _severity_of(models.refusals.c.action)
    decisions = models.policy_decisions.alias("verdict_decisions")
    strictest = (
        sa.select(sa.func.coalesce(sa.func.max(_severity_of(decisions.c.action)), 0))
        .where(decisions.c.asset_id == models.assets.c.asset_id)
        .scalar_subquery()
    )
    return cast(sa.ColumnElement[int], strictest)


def verdict_column(kind: EntryKind) -> sa.ColumnElement[str]:
    """SQL for an entry's verdict name (`allow`, `warn`, `needs_license`, `block`)."""
    if kind == "refusal":
        return models.refusals.c.action
    names = {rank: verdict for verdict, rank in SEVERITY.items()}
    return sa.case(names, value=severity_column(kind), else_="allow")


# -- filters to SQL ---------------------------------------------------------------------------


def parent_table(kind: EntryKind) -> sa.Table:
    """`assets` or `refusals`."""
    return models.assets if kind == "asset" else models.refusals


def id_column(kind: EntryKind) -> sa.Column[Any]:
    """The primary key column of an entry kind's table."""
    return parent_table(kind).c[_ID_COLUMN[kind]]


def _mentions_work(kind: EntryKind, work_id: str) -> sa.ColumnElement[bool]:
    """The entry credits the work (attribution) or a policy decision names it.

    The subqueries read aliases, so that only the entry table is correlated even inside a
    query that joins the child tables themselves (report aggregates).
    """
    decisions, owner = models.policy_decisions.alias("work_decisions"), id_column(kind)
    named = sa.exists().where(
        decisions.c[_ID_COLUMN[kind]] == owner, decisions.c.work_id == work_id
    )
    if kind == "refusal":
        return named
    credits = models.attributions.alias("work_credits")
    credited = sa.exists().where(credits.c.asset_id == owner, credits.c.work_id == work_id)
    return sa.or_(credited, named)


def where_clause(kind: EntryKind, audit: AuditFilter) -> sa.ColumnElement[bool]:
    """The filter as a WHERE clause on one entry table (every value a bound parameter)."""
    table = parent_table(kind)
    conditions: list[sa.ColumnElement[bool]] = []
    if audit.since is not None:
        conditions.append(table.c.created_at >= audit.since)
    if audit.until is not None:
        conditions.append(table.c.created_at < audit.until)
    for name, column in (
        ("generator", "generator"),
        ("model", "model_name"),
        ("requester", "requester"),
        ("project", "project"),
    ):
        value = getattr(audit, name)
        if value is not None:
            conditions.append(table.c[column] == value)
    if audit.work is not None:
        conditions.append(_mentions_work(kind, audit.work))
    if audit.verdict is not None:
        conditions.append(severity_column(kind) == SEVERITY[audit.verdict])
    return sa.and_(sa.true(), *conditions)


def _summary_select(kind: EntryKind, audit: AuditFilter) -> sa.Select[Any]:
    """One line per entry of `kind`: the columns `audit list` shows."""
    table = parent_table(kind)
    is_asset = kind == "asset"
    no_text = sa.null().label
    return sa.select(
        sa.literal_column(f"'{kind}'", sa.String).label("kind"),  # kind is one of KINDS
        id_column(kind).label("id"),
        table.c.seq,
        table.c.created_at,
        table.c.request_id,
        table.c.generator,
        table.c.model_name,
        verdict_column(kind).label("verdict"),
        table.c.requester,
        table.c.project,
        table.c.prompt,
        table.c.prompt_hash,
        table.c.path if is_asset else no_text("path"),
        table.c.sha256 if is_asset else table.c.image_sha256.label("sha256"),
        no_text("stage") if is_asset else table.c.stage,
    ).where(where_clause(kind, audit))


def summary_query(audit: AuditFilter) -> sa.Subquery:
    """Matching assets and refusals as one table of summary lines (assets' columns first)."""
    parts = [_summary_select(kind, audit) for kind in audit.kinds]
    union = parts[0] if len(parts) == 1 else sa.union_all(*parts)
    return union.subquery("entries")


def list_entries(conn: Connection, audit: AuditFilter, limit: int | None) -> list[dict[str, Any]]:
    """Summary lines of matching entries, newest (highest seq) first, at most `limit`."""
    entries = summary_query(audit)
    stmt = sa.select(entries).order_by(entries.c.seq.desc())
    if limit is not None:
        stmt = stmt.limit(limit)
    return [_plain(row._mapping) for row in conn.execute(stmt)]


def _plain(row: Mapping[Any, Any]) -> dict[str, Any]:
    out = dict(row)
    if isinstance(out.get("created_at"), datetime):
        out["created_at"] = out["created_at"].isoformat()
    return out


def count_entries(conn: Connection, audit: AuditFilter) -> dict[str, int]:
    """How many entries of each kind match (every kind of the filter named, zeros included)."""
    counts: dict[str, int] = {}
    for kind in audit.kinds:
        stmt = sa.select(sa.func.count()).select_from(parent_table(kind))
        counts[kind] = int(conn.execute(stmt.where(where_clause(kind, audit))).scalar_one())
    return counts


def iter_entries(
    conn: Connection, audit: AuditFilter, page_size: int = _PAGE
) -> Iterator[LedgerEntry]:
    """Every matching entry, whole (decisions, attributions, ingredients), in seq order.

    Keyset pages per kind, merged by seq: memory stays bounded by the page size however
    many entries match.
    """
    streams = [_iter_kind(conn, kind, audit, page_size) for kind in audit.kinds]
    for rows in heapq.merge(*streams, key=_read.seq_key):
        yield rows.to_entry()


def _iter_kind(
    conn: Connection, kind: EntryKind, audit: AuditFilter, page_size: int
) -> Iterator[Any]:
    seq = parent_table(kind).c.seq
    where = where_clause(kind, audit)
    last: int | None = None
    while True:
        page_where = where if last is None else sa.and_(where, seq > last)
        page = _read.load(conn, kind, page_where, limit=page_size)
        yield from page
        if len(page) < page_size:
            return
        last = page[-1].seq


def newest_entries(
    conn: Connection, kind: EntryKind, audit: AuditFilter, limit: int
) -> list[LedgerEntry]:
    """The `limit` newest matching entries of one kind, whole, newest first."""
    ids = conn.execute(
        sa.select(id_column(kind))
        .where(where_clause(kind, audit))
        .order_by(parent_table(kind).c.seq.desc())
        .limit(limit)
    ).scalars()
    wanted = list(ids)
    if not wanted:
        return []
    rows = _read.load(conn, kind, id_column(kind).in_(wanted))
    return [r.to_entry() for r in reversed(rows)]

"""The ledger cross-check of `provenant verify`: is this file the one the studio recorded?

Each file is looked up by what it is and by what its credentials say it is:

* its SHA-256 — a row with these bytes: **recorded** (`status: recorded`, `hash_match`);
* else its active manifest label, then the asset id in its `org.provenant.generation`
  assertion — a recorded asset whose bytes differ: **recorded asset, different bytes**
  (`status: different_bytes`): edited or re-encoded after signing, or credentials copied
  onto other bytes;
* else **not recorded** (`status: not_recorded`): not made by this studio, or stripped of
  the credentials that would name its record.

A found row is also checked in the hash chain: its row hash recomputes and links to the
entry before it (`chain_ok`).  Only `recorded` with an intact chain is a match; every other
outcome fails verification (exit 4) unless `--no-ledger` is given.  Files are looked up a
batch at a time, with a fixed handful of queries per batch whatever its size, over the
read-only connection of `provenance.ledger.lookup` (the ledger is never created or written).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provenance.ledger.sqlite_ro import plain_sqlite_path
from provenance.verify.report import LedgerMatch

if TYPE_CHECKING:
    from provenance.config import Settings
    from provenance.ledger.lookup import AssetLookup
    from provenance.softbinding.recovery import Recoverer
    from provenance.verify.report import VerificationReport

Row = dict[str, Any]


@dataclass(frozen=True)
class LedgerQuery:
    """What one file offers to look up: its bytes' SHA-256 and what its credentials claim."""

    sha256: str
    manifest_label: str | None = None
    asset_id: str | None = None

    @classmethod
    def of(cls, report: VerificationReport) -> LedgerQuery:
        """The query for a verified file (its `sha256` must be set)."""
        assert report.sha256 is not None, "the ledger is asked only about files it can hash"
        claimed = (report.generation or {}).get("asset_id")
        return cls(
            sha256=report.sha256,
            manifest_label=report.manifest_label,
            asset_id=claimed if isinstance(claimed, str) and claimed else None,
        )


class LedgerLookup:
    """Callable `(queries) -> matches` in the same order, opening the ledger on first use.

    The first call also checks the schema version (one query); a missing, unmigrated or
    unreachable ledger raises `LedgerError`, which `verify` reports on every file.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lookup: AssetLookup | None = None
        self._recoverer: Recoverer | None = None

    def _open(self) -> AssetLookup:
        if self._lookup is None:
            from provenance.ledger.lookup import AssetLookup

            lookup = AssetLookup.open(
                self._settings.database_url,
                busy_timeout_ms=self._settings.ledger.busy_timeout_ms,
            )
            try:
                lookup.check_schema()
            except BaseException:
                lookup.close()
                raise
            self._lookup = lookup
        return self._lookup

    def close(self) -> None:
        """Release the ledger connection (opened again on the next call)."""
        if self._lookup is not None:
            self._lookup.close()
            self._lookup = None

    def can_recover(self) -> bool:
        """Whether the ledger holds soft bindings at all (else no file needs reading again).

        The recovery index is built on first use: an ordinary unknown file against a ledger
        without soft bindings costs one small query, no decoder and no second read.
        """
        return self._recoverer_now().holds_bindings()

    def recover(self, data: bytes) -> dict[str, Any] | None:
        """The ledger record these pixels were signed as (watermark / fingerprint), if any."""
        return self._recoverer_now().recover(data)

    def _recoverer_now(self) -> Recoverer:
        if self._recoverer is None:
            from provenance.softbinding.recovery import Recoverer

            self._recoverer = Recoverer(self._open())
        return self._recoverer

    def __call__(self, queries: Sequence[LedgerQuery]) -> list[LedgerMatch]:
        if not queries:
            return []
        return match_all(self._open(), queries)


def match_all(lookup: AssetLookup, queries: Sequence[LedgerQuery]) -> list[LedgerMatch]:
    """The ledger's answer for every query, from one read snapshot."""
    from provenance.ledger.lookup import entry_intact

    with lookup.snapshot("checking files against the ledger"):
        rows = lookup.assets(
            sha256s=[q.sha256.lower() for q in queries],
            asset_ids=[q.asset_id for q in queries if q.asset_id],
        )
        by_sha = _index(rows, "sha256")
        by_id = _index(rows, "asset_id")
        # Manifest labels are not indexed: asked only for files nothing else matched.
        unmatched = [
            q.manifest_label
            for q in queries
            if q.manifest_label and q.sha256.lower() not in by_sha and q.asset_id not in by_id
        ]
        by_label = _index(lookup.assets_by_label(unmatched) if unmatched else [], "manifest_label")
        chosen = [_choose(q, by_sha, by_label, by_id) for q in queries]
        found = {str(row["asset_id"]): row for row, _ in filter(None, chosen)}
        children = lookup.children(found)
        seqs = [r["seq"] - 1 for r in found.values() if isinstance(r.get("seq"), int)]
        predecessors = lookup.row_hashes_at(s for s in seqs if s >= 1)
    intact = {
        asset_id: entry_intact(row, children[asset_id], _predecessor(row, predecessors))
        for asset_id, row in found.items()
    }
    return [_describe(pick, intact) if pick else _not_recorded() for pick in chosen]


def _index(rows: list[Row], column: str) -> dict[str, Row]:
    """Rows by one column, oldest (lowest seq) first when several share a value."""
    out: dict[str, Row] = {}
    for row in sorted(rows, key=_seq_key):
        value = row.get(column)
        if isinstance(value, str):
            out.setdefault(value, row)
    return out


def _seq_key(row: Row) -> tuple[int, Any]:
    seq = row.get("seq")
    return (0, seq) if isinstance(seq, int) else (1, repr(seq))


def _choose(
    query: LedgerQuery,
    by_sha: dict[str, Row],
    by_label: dict[str, Row],
    by_id: dict[str, Row],
) -> tuple[Row, str] | None:
    """The row this file is, and how it was found: bytes first, then what the claims say."""
    row = by_sha.get(query.sha256.lower())
    if row is not None:
        return row, "sha256"
    claimed = by_id.get(query.asset_id) if query.asset_id else None
    label = query.manifest_label
    if claimed is not None and label and claimed.get("manifest_label") == label:
        return claimed, "manifest_label"  # the row the asset id names has this very label
    if label and label in by_label:
        return by_label[label], "manifest_label"
    if claimed is not None:
        return claimed, "asset_id"
    return None


def _predecessor(row: Row, hashes: dict[int, str]) -> str | None:
    seq = row.get("seq")
    return hashes.get(seq - 1) if isinstance(seq, int) else None


def _describe(pick: tuple[Row, str], intact: dict[str, bool]) -> LedgerMatch:
    row, how = pick
    asset_id = str(row["asset_id"])
    chain_ok = intact[asset_id]
    recorded_sha = row.get("sha256") if isinstance(row.get("sha256"), str) else None
    where = f"{asset_id} (seq {row.get('seq')})"
    if how == "sha256":
        detail = f"recorded as {where}"
    else:
        claim = "manifest label" if how == "manifest_label" else "asset id"
        detail = (
            f"recorded asset, different bytes: the credentials' {claim} names {where}, "
            f"recorded with SHA-256 {recorded_sha}; the file was changed after signing "
            "(edited or re-encoded)"
        )
    if not chain_ok:
        detail += "; its ledger row fails the hash-chain check"
    return LedgerMatch(
        found=True,
        asset_id=asset_id,
        hash_match=how == "sha256",
        chain_ok=chain_ok,
        detail=detail,
        matched_by=how,
        recorded_sha256=recorded_sha,
    )


def _not_recorded() -> LedgerMatch:
    return LedgerMatch(
        found=False,
        detail="not recorded: no ledger record has this file's SHA-256, and its credentials "
        "name no recorded asset (not made by this studio, or its credentials were removed)",
    )


def ledger_configured(settings: Settings) -> bool:
    """Whether this machine has a studio ledger to check against.

    An explicit database URL always counts (an unreachable one is then an error); the
    embedded SQLite default counts only once `provenant init` has created it, so anyone can
    verify credentials without being a studio.
    """
    path = plain_sqlite_path(settings.database_url)
    if path is not None:
        return path.is_file()
    from provenance.ledger.db import normalise_url

    url = normalise_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        return True
    database = url.database
    return database is not None and database != ":memory:" and _is_file(database)


def _is_file(database: str) -> bool:
    from pathlib import Path

    return Path(database).expanduser().is_file()

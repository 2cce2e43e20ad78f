"""The ledger cross-check of `provenant verify`: is this file the one the studio recorded?

A file is looked up by the SHA-256 of its bytes.  Found: the row exists, the bytes are the
recorded ones, and the row's hash (and its link to the row before) recomputes — "chain
intact at that row".  Not found: the file was modified after signing, or this studio never
recorded it; either way verification fails unless `--no-ledger` is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from provenance.db import normalise_url
from provenance.verification.report import LedgerMatch

if TYPE_CHECKING:
    from provenance.config import Settings
    from provenance.ledger import Ledger


class LedgerLookup:
    """Callable `(sha256, file_bytes) -> LedgerMatch`, opening the ledger on first use."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._ledger: Ledger | None = None

    def _open(self) -> Ledger:
        if self._ledger is None:
            from provenance.ledger import Ledger

            ledger = Ledger.from_settings(self._settings, read_only=True)
            ledger.require_current()
            self._ledger = ledger
        return self._ledger

    def __call__(self, sha256: str, data: bytes) -> LedgerMatch:
        ledger = self._open()
        entries = [e for e in ledger.find_by_sha256(sha256) if e.kind == "asset"]
        if not entries:
            return LedgerMatch(
                found=False,
                detail="no ledger record has this file's SHA-256 "
                "(modified after signing, or not recorded by this studio)",
            )
        entry = entries[0]
        chain_ok = ledger.verify_entry(entry.id)
        detail = f"recorded as {entry.id} (seq {entry.seq})"
        if not chain_ok:
            detail += "; its ledger row fails the hash-chain check"
        return LedgerMatch(True, entry.id, hash_match=True, chain_ok=chain_ok, detail=detail)


def ledger_configured(settings: Settings) -> bool:
    """Whether this machine has a studio ledger to check against.

    An explicit database URL always counts (an unreachable one is then an error); the
    embedded SQLite default counts only once `provenant init` has created it, so anyone can
    verify credentials without being a studio.
    """
    url = normalise_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        return True
    database = url.database
    return database is not None and Path(database).is_file()

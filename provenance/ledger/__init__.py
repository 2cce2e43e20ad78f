"""The ledger: an append-only, hash-chained record of every output and refusal.

    >>> from provenance.ledger import Ledger                        # doctest: +SKIP
    >>> ledger = Ledger.sqlite(".provenant/ledger.db"); ledger.upgrade()   # doctest: +SKIP
    >>> entry = ledger.append_asset(record)                          # doctest: +SKIP
    >>> ledger.verify_chain().ok                                     # doctest: +SKIP
    True

`canonical` defines exactly what each row hash covers; `checkpoint` signs the chain's
Merkle root as a C2SP checkpoint so an auditor can later prove the ledger was not cut short
or rewritten.  `lookup` is the read-only path `provenant verify` uses (plain DB-API, no
SQLAlchemy on SQLite).

The names below are imported on first use, so that importing one submodule (`canonical`,
`lookup`) does not load SQLAlchemy and the ORM models with it.

`migrate` runs the Alembic revisions of the core and of every plugin that contributes some.

May import: kernel, migrations.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from provenance.errors import DuplicateRecordError, LedgerError
    from provenance.ledger.canonical import GENESIS_HASH, SCHEMA
    from provenance.ledger.chain import BadEntry, ChainReport
    from provenance.ledger.records import (
        AssetRecord,
        AttributionRecord,
        DecisionRecord,
        IngredientRecord,
        LedgerEntry,
        LedgerRecord,
        RefusalRecord,
        RequestState,
        decisions_from_verdict,
    )
    from provenance.ledger.repository import Ledger, canonical_path
    from provenance.ledger.signing_keys import signing_key_info

_HOME = {
    "DuplicateRecordError": "provenance.errors",
    "LedgerError": "provenance.errors",
    "GENESIS_HASH": "provenance.ledger.canonical",
    "SCHEMA": "provenance.ledger.canonical",
    "BadEntry": "provenance.ledger.chain",
    "ChainReport": "provenance.ledger.chain",
    "AssetRecord": "provenance.ledger.records",
    "AttributionRecord": "provenance.ledger.records",
    "DecisionRecord": "provenance.ledger.records",
    "IngredientRecord": "provenance.ledger.records",
    "LedgerEntry": "provenance.ledger.records",
    "LedgerRecord": "provenance.ledger.records",
    "RefusalRecord": "provenance.ledger.records",
    "RequestState": "provenance.ledger.records",
    "decisions_from_verdict": "provenance.ledger.records",
    "Ledger": "provenance.ledger.repository",
    "canonical_path": "provenance.ledger.repository",
    "signing_key_info": "provenance.ledger.signing_keys",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'provenance.ledger' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "GENESIS_HASH",
    "SCHEMA",
    "AssetRecord",
    "AttributionRecord",
    "BadEntry",
    "ChainReport",
    "DecisionRecord",
    "DuplicateRecordError",
    "IngredientRecord",
    "Ledger",
    "LedgerEntry",
    "LedgerError",
    "LedgerRecord",
    "RefusalRecord",
    "RequestState",
    "canonical_path",
    "decisions_from_verdict",
    "signing_key_info",
]

"""The ledger: an append-only, hash-chained record of every output and refusal.

    >>> from provenance.ledger import Ledger                        # doctest: +SKIP
    >>> ledger = Ledger.sqlite(".provenant/ledger.db"); ledger.upgrade()   # doctest: +SKIP
    >>> entry = ledger.append_asset(record)                          # doctest: +SKIP
    >>> ledger.verify_chain().ok                                     # doctest: +SKIP
    True

`canonical` defines exactly what each row hash covers; `checkpoint` signs the chain's
Merkle root as a C2SP checkpoint so an auditor can later prove the ledger was not cut short
or rewritten.
"""

from __future__ import annotations

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

"""Stored ledger values as Python values, without SQLAlchemy: one definition for every reader.

`coltypes` (the SQLAlchemy column types) and the read-only lookup that `provenant verify`
uses (`lookup`, plain DB-API) both turn what the database returns into the values the row
hash is computed from; they share these functions so that the two readers cannot drift.
A value that does not parse (a row edited by hand) becomes `Unparsed`, never an exception,
so a tampered row shows up as a hash mismatch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: How `UTCDateTime` stores a timestamp on SQLite (fixed width, so text order is time order).
SQLITE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


@dataclass(frozen=True)
class Unparsed:
    """A stored value that does not parse as its column's type (evidence of tampering)."""

    raw: Any


def to_utc(value: datetime) -> datetime:
    """An aware UTC datetime; naive values are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def read_time(value: Any) -> Any:
    """A stored timestamp (an engine's datetime, or SQLite's text) as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return to_utc(value)
    try:
        return datetime.strptime(str(value), SQLITE_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return Unparsed(value)


def read_json_text(value: Any) -> Any:
    """A JSON document stored as text (SQLite) as its Python value."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return Unparsed(value)

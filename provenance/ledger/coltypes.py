"""Column types whose values read back identically on SQLite and PostgreSQL.

The row hash is recomputed from what the database returns, so every value must come back
exactly as it was written, on both engines:

* `UTCDateTime` — PostgreSQL `timestamptz` returns the session's time zone and SQLite has no
  timestamp type at all; this type always writes UTC with microseconds and always reads back
  an aware UTC `datetime`.  On SQLite it is fixed-width ISO text, so it sorts by time.
* `LedgerJSON` — PostgreSQL `json` keeps the text it was given (unlike `jsonb`, which
  reorders keys and rewrites numbers); on SQLite the text is ours, written compactly.

A value that cannot be parsed (a row edited by hand) is returned as `Unparsed` instead of
raising, so chain verification reports a hash mismatch rather than crashing.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from provenance.ledger.values import SQLITE_TIME_FORMAT, Unparsed, read_json_text, read_time, to_utc

__all__ = ["LedgerJSON", "UTCDateTime", "Unparsed", "to_utc"]


class UTCDateTime(TypeDecorator[Any]):
    """Timestamps stored and returned as aware UTC datetimes with microseconds."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(32))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        utc = to_utc(value)
        return utc.strftime(SQLITE_TIME_FORMAT) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return read_time(value)


class LedgerJSON(TypeDecorator[Any]):
    """JSON documents that round-trip to equal Python values on both engines."""

    impl = sa.JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Text())
        return dialect.type_descriptor(sa.JSON())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if dialect.name != "sqlite" or value is None:
            return value
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if dialect.name != "sqlite" or value is None:
            return value
        return read_json_text(value)

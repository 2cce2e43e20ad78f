"""Canonical serialisation of ledger entries, and the row hash that chains them.

Definition (schemas `provenant.ledger/1`, `/2` and `/3`; changing anything here is a new schema
version):

    row_hash = lowercase hex SHA-256( prev_hash as 32 raw bytes || canonical bytes )

The canonical bytes are the UTF-8 encoding of one JSON document:

    {"schema": "provenant.ledger/1",
     "kind": "asset" | "refusal",
     "row": {column: value, ...},                  # every column but prev_hash, row_hash
     "policy_decisions": [{column: value}, ...],   # ordered by position
     "attributions": [...], "ingredients": [...]}  # assets only, ordered by position

written with keys sorted by code point, no insignificant whitespace (`,` and `:`
separators), non-ASCII characters as UTF-8 (no `\\u` escapes) and no NaN/Infinity.
Each column has a fixed kind, and values are encoded by kind:

    text      JSON string, or null
    int       JSON integer, or null
    float     JSON string holding Python's `repr` of the IEEE-754 double ("0.93", "1e-07")
    time      "YYYY-MM-DDTHH:MM:SS.ffffffZ" in UTC (always six fractional digits)
    json      the document itself, keys sorted recursively, numbers as JSON writes them

How this relates to RFC 8785 (JCS): `dumps` is not JCS and does not claim to be.  It is
byte-identical to JCS (checked against the `rfc8785` package in
`tests/unit/ledger/test_canonical_jcs.py`) for documents of strings, booleans, null, integers
within +-(2**53 - 1), lists and objects whose keys are all in the Basic Multilingual Plane
below U+E000 -- which covers every column the ledger hashes except numbers inside `json`
columns.  It differs in three places, and stays as it is because every row hash already
written depends on these bytes (a switch would be a new schema version, not a fix):

  * floats: Python's `repr` ("1.0", "1e-07"), where JCS writes ECMAScript's shortest form
    ("1", "1e-7"); float columns are hashed as strings for this reason, so only floats
    inside `json` columns (generator params) are affected;
  * integers beyond 2**53: written exactly, where JCS refuses them (they are not doubles);
  * key order: by code point, where JCS orders by UTF-16 code unit; the two disagree only
    when keys mix characters above U+FFFF with characters in U+E000..U+FFFF.

Why these rules: both engines return exactly these values (see `coltypes`), so the hash
recomputed from a row read back on SQLite or PostgreSQL equals the one computed at append.
A value whose Python type does not fit its column's kind (only possible when a row was
edited by hand) is encoded as `"!<type>:<repr>"`, which never equals a well-typed value.

Schema `/2` (migration 0003) adds the columns in `ADDED_IN_2`: the policy layers bypassed
for an entry (`degraded_layers`) and an ingredient's C2PA manifest and validation state.
An entry is hashed as `/2`, with every column, when any of those columns holds a value in
its row or a child row; otherwise as `/1`, without them, so rows written before 0003 keep
their hashes.  Clearing the new values of a `/2` entry turns it into a different `/1`
document, so that edit is caught like any other.

Schema `/3` (migration 0005, lineage) adds the columns in `ADDED_IN_3` the same way: the
people who contributed to an asset (`assets.contributors`) and the ledger asset an
ingredient is (`ingredients.source_asset_id`).  An entry with a value in one of them is
hashed as `/3` with every column; otherwise by the `/2` rule above.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from provenance.ledger.values import to_utc

SCHEMA_1 = "provenant.ledger/1"
SCHEMA_2 = "provenant.ledger/2"
SCHEMA = "provenant.ledger/3"
GENESIS_HASH = "0" * 64

TEXT, INT, FLOAT, TIME, JSON = "text", "int", "float", "time", "json"

#: Columns hashed for each table, with their kinds (schema `provenant.ledger/1`).
COLUMNS: dict[str, dict[str, str]] = {
    "assets": {
        "asset_id": TEXT,
        "seq": INT,
        "request_id": TEXT,
        "image_index": INT,
        "sha256": TEXT,
        "path": TEXT,
        "mime": TEXT,
        "created_at": TIME,
        "generator": TEXT,
        "model": JSON,
        "model_name": TEXT,
        "seed": INT,
        "prompt": TEXT,
        "prompt_hash": TEXT,
        "negative_prompt": TEXT,
        "params": JSON,
        "manifest_label": TEXT,
        "requester": TEXT,
        "project": TEXT,
        "declared_use": TEXT,
        "declared_license": TEXT,
        "signer_fingerprint": TEXT,
        "degraded_layers": JSON,
        "contributors": JSON,
    },
    "refusals": {
        "refusal_id": TEXT,
        "seq": INT,
        "request_id": TEXT,
        "stage": TEXT,
        "image_index": INT,
        "action": TEXT,
        "image_sha256": TEXT,
        "prompt": TEXT,
        "prompt_hash": TEXT,
        "generator": TEXT,
        "model_name": TEXT,
        "requester": TEXT,
        "project": TEXT,
        "declared_use": TEXT,
        "declared_license": TEXT,
        "created_at": TIME,
        "degraded_layers": JSON,
    },
    "policy_decisions": {
        "decision_id": TEXT,
        "asset_id": TEXT,
        "refusal_id": TEXT,
        "position": INT,
        "stage": TEXT,
        "policy": TEXT,
        "rule": TEXT,
        "action": TEXT,
        "score": FLOAT,
        "threshold": FLOAT,
        "category": TEXT,
        "detail": TEXT,
        "span": TEXT,
        "work_id": TEXT,
        "work_title": TEXT,
    },
    "attributions": {
        "attribution_id": TEXT,
        "asset_id": TEXT,
        "position": INT,
        "work_id": TEXT,
        "title": TEXT,
        "creator": TEXT,
        "license": TEXT,
        "similarity": FLOAT,
        "method": TEXT,
    },
    "ingredients": {
        "ingredient_id": TEXT,
        "asset_id": TEXT,
        "position": INT,
        "sha256": TEXT,
        "relationship": TEXT,
        "title": TEXT,
        "mime": TEXT,
        "manifest_label": TEXT,
        "validation_state": TEXT,
        "source_asset_id": TEXT,
    },
}

#: Columns that schema `/2` adds to `/1`, per table (hashed only in `/2` entries).
ADDED_IN_2: dict[str, frozenset[str]] = {
    "assets": frozenset({"degraded_layers"}),
    "refusals": frozenset({"degraded_layers"}),
    "ingredients": frozenset({"manifest_label", "validation_state"}),
}

#: Columns that schema `/3` adds to `/2`, per table (hashed only in `/3` entries).
ADDED_IN_3: dict[str, frozenset[str]] = {
    "assets": frozenset({"contributors"}),
    "ingredients": frozenset({"source_asset_id"}),
}

#: The parent table of each entry kind, and the child tables hashed with it (in this order).
ENTRY_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "asset": ("assets", ("policy_decisions", "attributions", "ingredients")),
    "refusal": ("refusals", ("policy_decisions",)),
}


def dumps(document: Any) -> str:
    """Compact JSON with sorted keys, UTF-8 text and no NaN: the one JSON writer we hash."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _mistyped(value: Any) -> str:
    return f"!{type(value).__name__}:{value!r}"


def _encode_int(value: Any) -> Any:
    return value if isinstance(value, int) and not isinstance(value, bool) else _mistyped(value)


def _encode_float(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
        return repr(number) if math.isfinite(number) else _mistyped(value)
    return _mistyped(value)


def _encode_time(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return _mistyped(value)


def _encode_text(value: Any) -> Any:
    return value if isinstance(value, str) else _mistyped(value)


def _encode_json(value: Any) -> Any:
    try:
        dumps(value)
    except (TypeError, ValueError):
        return _mistyped(value)
    return value


_ENCODERS = {
    TEXT: _encode_text,
    INT: _encode_int,
    FLOAT: _encode_float,
    TIME: _encode_time,
    JSON: _encode_json,
}


def encode_row(table: str, row: Mapping[str, Any], schema: str = SCHEMA) -> dict[str, Any]:
    """The canonical form of one row: every hashed column of `table`, encoded by kind."""
    skipped: frozenset[str] = frozenset()
    if schema != SCHEMA:
        skipped = ADDED_IN_3.get(table, frozenset())
    if schema == SCHEMA_1:
        skipped = skipped | ADDED_IN_2.get(table, frozenset())
    out: dict[str, Any] = {}
    for column, kind in COLUMNS[table].items():
        if column in skipped:
            continue
        value = row.get(column)
        out[column] = None if value is None else _ENCODERS[kind](value)
    return out


def entry_schema(
    kind: str, row: Mapping[str, Any], children: Mapping[str, Sequence[Mapping[str, Any]]]
) -> str:
    """The oldest schema whose columns hold every value of the entry (`/3`, `/2` or `/1`)."""
    parent, child_tables = ENTRY_TABLES[kind]
    tables = [(parent, [row]), *((t, children.get(t, ())) for t in child_tables)]
    for schema, added_in in ((SCHEMA, ADDED_IN_3), (SCHEMA_2, ADDED_IN_2)):
        for table, rows in tables:
            added = added_in.get(table, frozenset())
            if any(r.get(column) is not None for r in rows for column in added):
                return schema
    return SCHEMA_1


def canonical_bytes(
    kind: str, row: Mapping[str, Any], children: Mapping[str, Sequence[Mapping[str, Any]]]
) -> bytes:
    """The bytes hashed for one entry: its row and its child rows, in position order."""
    parent, child_tables = ENTRY_TABLES[kind]
    schema = entry_schema(kind, row, children)
    document: dict[str, Any] = {
        "schema": schema,
        "kind": kind,
        "row": encode_row(parent, row, schema),
    }
    for table in child_tables:
        rows = sorted(children.get(table, ()), key=position_key)
        document[table] = [encode_row(table, child, schema) for child in rows]
    return dumps(document).encode("utf-8")


def position_key(row: Mapping[str, Any]) -> tuple[int, str]:
    """Sort key for child rows: by position; a mistyped (hand-edited) position sorts first."""
    position = row.get("position")
    return (position, "") if isinstance(position, int) else (-1, repr(position))


def row_hash(
    prev_hash: str,
    kind: str,
    row: Mapping[str, Any],
    children: Mapping[str, Sequence[Mapping[str, Any]]],
) -> str:
    """SHA-256 over the previous entry's hash (32 raw bytes) and this entry's canonical bytes."""
    digest = hashlib.sha256(_hash_bytes(prev_hash))
    digest.update(canonical_bytes(kind, row, children))
    return digest.hexdigest()


def _hash_bytes(value: str) -> bytes:
    """A stored hex hash as raw bytes; malformed text (a hand-edited row) hashes as its UTF-8."""
    try:
        raw = bytes.fromhex(value)
    except (TypeError, ValueError):
        return str(value).encode("utf-8", "surrogateescape")
    return raw if len(raw) == 32 else str(value).encode("utf-8")

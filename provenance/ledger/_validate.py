"""Checks shared by the ledger records: one message style, one place.

Every failure is a `LedgerError` naming the record and field, raised when a record is made,
so nothing that cannot be stored (or would read back differently) reaches the database.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

from provenance.errors import LedgerError

MAX_ID_CHARS = 128
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def fail(where: str, message: str) -> LedgerError:
    """The error for a bad field: `<record>: <what is wrong>`."""
    return LedgerError(f"{where}: {message}")


def check_id(where: str, name: str, value: Any) -> None:
    """Ids are keys and file-name material: non-empty text of bounded length."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID_CHARS:
        raise fail(where, f"{name} must be a non-empty string of at most {MAX_ID_CHARS} chars")


def check_text(where: str, name: str, value: Any, *, optional: bool = True) -> None:
    """Text both engines store unchanged: no NUL (PostgreSQL refuses it), valid UTF-8."""
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise fail(where, f"{name} must be text, got {type(value).__name__}")
    if "\x00" in value:
        raise fail(where, f"{name} contains a NUL character, which databases cannot store")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise fail(where, f"{name} is not valid Unicode text ({exc.reason})") from exc


def check_sha256(where: str, name: str, value: Any, *, optional: bool = False) -> None:
    """A SHA-256 digest as 64 lowercase hex characters (the form lookups compare)."""
    if value is None and optional:
        return
    if not isinstance(value, str) or not _SHA256.match(value):
        raise fail(where, f"{name} must be 64 lowercase hex characters, got {value!r}")


def check_int(where: str, name: str, value: Any, *, optional: bool = False) -> None:
    """An integer that fits a BIGINT column (bools are not integers here)."""
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or abs(value) >= 2**63:
        raise fail(where, f"{name} must be a 64-bit integer, got {value!r}")


def finite(where: str, name: str, value: Any, *, optional: bool = False) -> float | None:
    """`value` as a finite float: SQLite stores NaN as NULL, so NaN/inf cannot round-trip."""
    if value is None and optional:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise fail(where, f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise fail(where, f"{name} must be finite, got {value!r}")
    return number


def _json_default(value: Any) -> Any:
    """Values generators commonly put in params: paths, numpy scalars, enums, sets."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def plain_json(where: str, name: str, value: Any) -> dict[str, Any]:
    """`value` as it will read back from a JSON column: plain dicts, lists, str, int, float."""
    if not isinstance(value, Mapping):
        raise fail(where, f"{name} must be a mapping, got {type(value).__name__}")
    try:
        text = json.dumps(value, default=_json_default, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise fail(where, f"{name} cannot be stored as JSON ({exc})") from exc
    check_text(where, name, text)
    plain: dict[str, Any] = json.loads(text)
    return plain


def set_field(obj: object, name: str, value: Any) -> None:
    """Assign a normalised value to a frozen dataclass during `__post_init__`."""
    object.__setattr__(obj, name, value)


def check_texts(obj: object, where: str, names: Sequence[str]) -> None:
    """`check_text` on several optional attributes of `obj`."""
    for name in names:
        check_text(where, name, getattr(obj, name))


def typed_items(where: str, items: Sequence[Any], cls: type) -> tuple[Any, ...]:
    """`items` as a tuple, each checked to be a `cls` (child records)."""
    out = tuple(items)
    for item in out:
        if not isinstance(item, cls):
            raise fail(where, f"expected {cls.__name__} items, got {type(item).__name__}")
    return out

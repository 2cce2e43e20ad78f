"""`audit export`: matching ledger entries as CSV or JSON Lines, streamed.

JSONL is the lossless form: one line per entry, exactly `LedgerEntry.as_dict()` plus the
entry's verdict, so the records can be rebuilt from it.  CSV is the spreadsheet form: one
row per entry with every column of both entry kinds; JSON values (model card, parameters,
decisions, attributions, ingredients) are compact JSON text in their cell, and an empty
cell means "no value".  Spreadsheets should import the cells as text: a prompt is user text
and may begin with `=`.

Entries are read a page at a time and written as they arrive, so memory stays bounded
however large the ledger is.  A file given with `--out` is written to a temporary file in
the same directory and renamed into place at the end, so an export that fails half way
leaves any earlier file of that name intact.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any, TextIO

from provenance.audit.query import verdict_of
from provenance.errors import BadInputError
from provenance.ledger.records import AssetRecord, LedgerEntry, RefusalRecord

FORMATS: tuple[str, ...] = ("csv", "jsonl")

#: Record fields of both kinds, assets' first, in declaration order.
RECORD_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(f.name for cls in (AssetRecord, RefusalRecord) for f in fields(cls))
)
CSV_COLUMNS: tuple[str, ...] = (
    "kind",
    "id",
    "seq",
    "verdict",
    *RECORD_COLUMNS,
    "prev_hash",
    "row_hash",
)
_PROGRESS_EVERY = 100


def entry_json(entry: LedgerEntry) -> dict[str, Any]:
    """The JSONL object of one entry: `LedgerEntry.as_dict()` and its verdict."""
    return {**entry.as_dict(), "verdict": verdict_of(entry)}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def csv_row(entry: LedgerEntry) -> list[str]:
    """The CSV cells of one entry, in `CSV_COLUMNS` order."""
    document = entry_json(entry)
    record = document.pop("record")
    values = {**record, **document}
    return [_cell(values.get(column)) for column in CSV_COLUMNS]


def write_entries(
    entries: Iterable[LedgerEntry],
    fmt: str,
    out: TextIO,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write every entry to `out` as `fmt` (csv or jsonl); returns how many were written."""
    if fmt not in FORMATS:
        raise BadInputError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    writer = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(CSV_COLUMNS)
    count = 0
    for entry in entries:
        if writer is not None:
            writer.writerow(csv_row(entry))
        else:
            out.write(json.dumps(entry_json(entry), ensure_ascii=False, default=str) + "\n")
        count += 1
        if progress is not None and count % _PROGRESS_EVERY == 0:
            progress(_PROGRESS_EVERY)
    if progress is not None:
        progress(count % _PROGRESS_EVERY)
    return count


def check_writable(path: Path) -> None:
    """Fail early, with one line, when `path` cannot be written as a new or replaced file.

    Called before long work (a report verifies the whole chain first), so a typo in the
    output path costs nothing.  Creating the file can still fail later (a full disk): that
    too is a `BadInputError` from `replaced_atomically`.
    """
    if path.is_dir():
        raise BadInputError(f"{path}: is a directory; give a file name")
    parent = path.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise BadInputError(f"{path}: cannot write here, {parent} {what}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BadInputError(f"{path}: cannot write here, {parent} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise BadInputError(f"{path}: cannot replace this file, it is read-only")


@contextmanager
def replaced_atomically(path: Path) -> Iterator[TextIO]:
    """A text file that replaces `path` only once the block finishes without error."""
    check_writable(path)
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise BadInputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    done = False
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
        done = True
    except OSError as exc:
        raise BadInputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    finally:
        if not done:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)

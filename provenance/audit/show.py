"""`audit show`: everything the ledger holds about one asset, refusal or file.

A key is tried, in order, as an asset id, a refusal id, a SHA-256 digest (64 hex digits),
and a path.  A path is looked up both as the recorded output path and by the SHA-256 of the
file's bytes when the file exists, so a renamed or copied output is still found, and a file
edited in place shows up as "recorded at this path, but the bytes differ".
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.audit.query import id_column, verdict_of
from provenance.errors import BadInputError
from provenance.ledger import _read
from provenance.ledger.canonical import GENESIS_HASH
from provenance.ledger.records import AssetRecord, LedgerEntry

if TYPE_CHECKING:
    from provenance.ledger import Ledger

_HEX_DIGEST = re.compile(r"^[0-9a-fA-F]{64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileState:
    """The file a path key names, as found on disk now."""

    path: str
    exists: bool
    sha256: str | None = None


@dataclass
class EntryDetail:
    """One ledger entry with its verdict, how it was found, and whether its row verifies."""

    entry: LedgerEntry
    verifies: bool
    matched_by: list[str] = field(default_factory=list)

    def as_dict(self, head_seq: int, file: FileState | None) -> dict[str, Any]:
        """JSON-ready: the entry (record and children), verdict, chain position, file match."""
        out = self.entry.as_dict()
        out["verdict"] = verdict_of(self.entry)
        out["matched_by"] = list(self.matched_by)
        out["chain"] = {
            "seq": self.entry.seq,
            "head_seq": head_seq,
            "prev_hash": self.entry.prev_hash,
            "row_hash": self.entry.row_hash,
            "row_verifies": self.verifies,
        }
        if file is not None and isinstance(self.entry.record, AssetRecord):
            out["file"] = {
                "path": file.path,
                "exists": file.exists,
                "sha256": file.sha256,
                "matches_record": file.sha256 == self.entry.record.sha256,
            }
        return out


@dataclass(frozen=True)
class Lookup:
    """What `show` found for one key: the entries (oldest first) and the file, if a path."""

    key: str
    head_seq: int
    entries: list[EntryDetail]
    file: FileState | None = None

    def as_dicts(self) -> list[dict[str, Any]]:
        """One JSON-ready object per entry found."""
        return [detail.as_dict(self.head_seq, self.file) for detail in self.entries]


def lookup(ledger: Ledger, key: str) -> Lookup:
    """Find every entry `key` names; `BadInputError` when none does."""
    if not key or _CONTROL.search(key):
        raise BadInputError(f"{key!r}: not an asset id, refusal id, SHA-256 or path")
    found: dict[str, tuple[LedgerEntry, list[str]]] = {}

    def add(entries: list[LedgerEntry], how: str) -> None:
        for entry in entries:
            found.setdefault(f"{entry.kind}:{entry.id}", (entry, []))[1].append(how)

    add([e for e in (ledger.get_asset(key),) if e is not None], "asset_id")
    add([e for e in (ledger.get_refusal(key),) if e is not None], "refusal_id")
    if _HEX_DIGEST.match(key):
        add(ledger.find_by_sha256(key.lower()), "sha256")
    file = None
    if not found:
        file = _file_state(Path(key))
        add(ledger.find_by_path(key), "path")
        if file.sha256 is not None:
            add(ledger.find_by_sha256(file.sha256), "file_sha256")
    if not found:
        raise BadInputError(_not_found(key, file))
    entries = sorted(found.values(), key=lambda item: item[0].seq)
    details = [EntryDetail(entry, row_verifies(ledger, entry), how) for entry, how in entries]
    return Lookup(key, ledger.head()[0], details, file)


def _not_found(key: str, file: FileState | None) -> str:
    if file is not None and file.exists:
        return (
            f"{key}: no ledger entry records this path or this file's SHA-256 ({file.sha256}); "
            "it was modified after it was recorded, or this studio never recorded it"
        )
    return f"{key}: no ledger entry has this asset id, refusal id, SHA-256 or path"


def _file_state(path: Path) -> FileState:
    """Whether the file exists and its SHA-256 (read in chunks: any size, bounded memory).

    A key that cannot name a file at all (too long, say) is simply not a file.
    """
    try:
        is_file = path.is_file()
    except (OSError, ValueError):
        is_file = False
    if not is_file:
        return FileState(str(path), exists=False)
    return FileState(str(path), exists=True, sha256=file_sha256(path))


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    return digest.hexdigest()


def row_verifies(ledger: Ledger, entry: LedgerEntry) -> bool:
    """Whether the entry's stored row (with its child rows) recomputes to its row hash and
    links to the row hash of the entry before it.  Any kind: assets and refusals alike."""
    with ledger.read_snapshot("verifying a ledger entry") as conn:
        found = _read.load(conn, entry.kind, id_column(entry.kind) == entry.id)
        if not found or not isinstance(found[0].seq, int) or found[0].seq < 1:
            return False
        rows = found[0]
        before = GENESIS_HASH if rows.seq == 1 else _read.row_hash_at(conn, rows.seq - 1)
    prev = rows.row.get("prev_hash")
    return prev == before and rows.row.get("row_hash") == rows.compute_hash(str(prev))

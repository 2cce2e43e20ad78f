"""Writing an output file and its ledger row so that neither exists without the other.

`AssetStore.commit` does, in order:

1. write `out_dir/.<filename>.partial` (exclusive create, write, flush, fsync);
2. append the ledger row in one transaction (its `path` is the final path);
3. `os.replace` the partial file to its final name and fsync the directory.

A failure in (1) or (2) removes the partial file and records nothing.

`AssetStore.commit_many` does the same for many outputs with one transaction: every partial
file is written first, then all rows are appended at once (`Ledger.append_many`: one head
lock, one commit), then each file is renamed.  A failed write or append removes every
partial file of the batch and records none of it; a failed rename is reported for that
output alone (its row exists, so `recover` rolls it forward).  A crash between
(2) and (3) leaves a partial file whose row exists: `recover(out_dir)` finishes the rename
(when the file's SHA-256 is the recorded one) and deletes partial files that have no row
(neither at that path nor with those bytes); anything else is kept and reported.
Existing files are never overwritten.  File names are chosen by the caller from ids (never
from prompt text) and may not contain path separators or `..`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provenance.errors import BadInputError, StoreError
from provenance.ids import PARTIAL_SUFFIX
from provenance.ledger import AssetRecord, Ledger, LedgerEntry, canonical_path

#: Threads writing one batch's partial files (their fsyncs overlap).
_WRITERS = 8


@dataclass(frozen=True)
class StoredAsset:
    """A committed output: its final path and its ledger entry."""

    path: Path
    entry: LedgerEntry


@dataclass
class RecoveryReport:
    """What `AssetStore.recover` did with the partial files it found."""

    restored: list[Path] = field(default_factory=list)  # renamed into place (row existed)
    removed: list[Path] = field(default_factory=list)  # deleted (no row: never committed)
    conflicts: list[Path] = field(default_factory=list)  # kept: bytes differ from the row

    @property
    def clean(self) -> bool:
        """Whether nothing needs a person's attention."""
        return not self.conflicts


def check_filename(filename: str) -> str:
    """Refuse names that could leave the output dir or hide among partial files."""
    bad = (
        not filename
        or filename in (".", "..")
        or ".." in filename
        or "/" in filename
        or "\\" in filename
        or "\x00" in filename
        or filename.startswith(".")
        or (os.altsep is not None and os.altsep in filename)
    )
    if bad:
        raise BadInputError(
            f"output file name {filename!r} is not allowed (no path separators, '..', "
            "NUL or leading '.')"
        )
    return filename


def partial_path(final: Path) -> Path:
    """Where the bytes of `final` are written before they are committed."""
    return final.with_name(f".{final.name}{PARTIAL_SUFFIX}")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_quietly(path: Path) -> None:
    """Best-effort cleanup: the error that led here is the one to report, and a partial
    file that cannot be removed now has no row, so `recover` deletes it later."""
    with contextlib.suppress(OSError):
        path.unlink()


def _write_exclusive(path: Path, data: bytes) -> None:
    """Create `path` (it must not exist), write all of `data`, flush and fsync."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb", closefd=False) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Commit:
    """One output for `AssetStore.commit_many`: the arguments `commit` takes for it."""

    out_dir: Path
    filename: str
    data: bytes
    record: AssetRecord
    soft_binding: Mapping[str, Any] | None = None
    overwrite: bool = False


class AssetStore:
    """Commits output files together with their ledger rows, and recovers after crashes."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._writers: ThreadPoolExecutor | None = None  # started by the first batch

    def commit(
        self,
        out_dir: Path,
        filename: str,
        data: bytes,
        record: AssetRecord,
        *,
        overwrite: bool = False,
        soft_binding: Mapping[str, Any] | None = None,
    ) -> StoredAsset:
        """Write `data` as `out_dir/filename` and record it; both happen or neither does.

        `record.sha256` must be the SHA-256 of `data`; `record.path` is replaced by the
        final path (absolute, as `canonical_path` writes it).  An existing file is never
        replaced unless `overwrite` is given (`provenant sign --in-place`, which signs the
        user's own file where it lies); the replacement is still one atomic rename.
        `soft_binding` is the output's `soft_bindings` row, recorded with the entry.
        """
        final = self._final_path(out_dir, filename, overwrite)
        record = self._prepared(final, data, record)
        partial = partial_path(final)
        self._write_partial(partial, data)
        entry = None
        try:
            entry = self.ledger.append_asset(record, soft_binding)
        finally:
            if entry is None:
                _remove_quietly(partial)
        self._publish(partial, final, overwrite)
        return StoredAsset(final, entry)

    def commit_many(self, commits: Sequence[Commit]) -> list[StoredAsset | StoreError]:
        """Write and record many outputs with one ledger transaction: all rows or none.

        Raises (having removed every partial file it wrote) when a file cannot be written
        or the append fails, so nothing of the batch exists.  Once the rows are in, each
        file is renamed on its own: the result holds, per commit in order, its
        `StoredAsset` or the `StoreError` of a rename that failed (its row exists and
        `recover` renames the partial file later).
        """
        staged: list[tuple[Path, Path, AssetRecord]] = []
        for item in commits:
            final = self._final_path(item.out_dir, item.filename, item.overwrite)
            record = self._prepared(final, item.data, item.record)
            staged.append((final, partial_path(final), record))
        contents = [(partial, c.data) for (_, partial, _), c in zip(staged, commits, strict=True)]
        written = self._write_partials(contents)
        entries: list[LedgerEntry] | None = None
        try:
            bindings = [
                {**item.soft_binding, "asset_id": item.record.asset_id}
                for item in commits
                if item.soft_binding
            ]
            entries = self.ledger.append_many([r for _, _, r in staged], soft_bindings=bindings)
        finally:
            if entries is None:
                for partial in written:
                    _remove_quietly(partial)
        out: list[StoredAsset | StoreError] = []
        for (final, partial, _), entry, item in zip(staged, entries, commits, strict=True):
            try:
                self._publish(partial, final, item.overwrite, sync=False)
            except StoreError as exc:
                out.append(exc)
            else:
                out.append(StoredAsset(final, entry))
        with contextlib.suppress(OSError):  # a rename already done survives a lost fsync
            for directory in {final.parent for final, _, _ in staged}:
                _fsync_dir(directory)
        return out

    def _write_partials(self, items: list[tuple[Path, bytes]]) -> list[Path]:
        """Write and fsync many partial files at once; all are written, or none is left.

        Concurrently, because each fsync waits for the disk and the filesystem commits its
        journal once for fsyncs that overlap (2-4x fewer milliseconds per file on ext4).
        A failure removes every partial file this call wrote and raises the first error.
        """
        if len(items) <= 1:
            for partial, data in items:
                self._write_partial(partial, data)
            return [partial for partial, _ in items]
        if self._writers is None:
            self._writers = ThreadPoolExecutor(_WRITERS, thread_name_prefix="partial-writer")
        submit = self._writers.submit
        futures = [submit(self._write_partial, partial, data) for partial, data in items]
        wait(futures)
        written: list[Path] = []
        error: BaseException | None = None
        for (partial, _), future in zip(items, futures, strict=True):
            exc = future.exception()
            if exc is None:
                written.append(partial)
            elif error is None:
                error = exc
        if error is not None:
            for partial in written:
                _remove_quietly(partial)
            raise error
        return written

    def _prepared(self, final: Path, data: bytes, record: AssetRecord) -> AssetRecord:
        """`record` checked against the bytes, with its final path and linked ingredients."""
        digest = hashlib.sha256(data).hexdigest()
        if digest != record.sha256:
            raise StoreError(f"{final}: record sha256 {record.sha256} is not that of the bytes")
        # Lineage: each ingredient the ledger already holds is linked to its asset row.
        ingredients = record.ingredients
        if ingredients:  # no lookup (one read transaction) for an output without inputs
            ingredients = self.ledger.link_ingredients(ingredients)
        return dataclasses.replace(record, path=canonical_path(final), ingredients=ingredients)

    def _final_path(self, out_dir: Path, filename: str, overwrite: bool = False) -> Path:
        check_filename(filename)
        directory = Path(out_dir)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{directory}: cannot create output dir ({exc.strerror})") from exc
        final = Path(canonical_path(directory)) / filename
        try:
            taken = final.exists()
        except OSError as exc:  # e.g. a directory without search permission
            raise StoreError(f"{directory}: cannot use output dir ({exc.strerror})") from exc
        if taken and not overwrite:
            raise StoreError(f"{final}: already exists; refusing to overwrite it")
        return final

    def _write_partial(self, partial: Path, data: bytes) -> None:
        try:
            _write_exclusive(partial, data)
        except FileExistsError as exc:
            raise StoreError(
                f"{partial}: left over from an interrupted run; recover the output dir first"
            ) from exc
        except OSError as exc:
            _remove_quietly(partial)
            raise StoreError(f"{partial}: cannot write ({exc.strerror or exc})") from exc

    def _publish(
        self, partial: Path, final: Path, overwrite: bool = False, *, sync: bool = True
    ) -> None:
        """Rename into place; a failure here leaves a partial that `recover` rolls forward.

        `sync=False` leaves the directory fsync to the caller (once per batch)."""
        try:
            if final.exists() and not overwrite:
                raise StoreError(f"{final}: appeared while committing; left {partial} in place")
            os.replace(partial, final)
            if sync:
                _fsync_dir(final.parent)
        except OSError as exc:
            raise StoreError(
                f"{final}: recorded in the ledger but not renamed into place "
                f"({exc.strerror or exc}); run recovery on {final.parent}"
            ) from exc

    def recover(self, out_dir: Path) -> RecoveryReport:
        """Finish or undo commits interrupted by a crash, for every partial file in `out_dir`."""
        report = RecoveryReport()
        directory = Path(canonical_path(out_dir))
        if not directory.is_dir():
            return report
        for partial in sorted(directory.glob(f".*{PARTIAL_SUFFIX}")):
            self._recover_one(partial, report)
        if report.restored or report.removed:
            _fsync_dir(directory)
        return report

    def _recover_one(self, partial: Path, report: RecoveryReport) -> None:
        """Roll one partial file forward (its row exists), delete it (no row), or keep it."""
        final = partial.with_name(partial.name[1 : -len(PARTIAL_SUFFIX)])
        digest = hashlib.sha256(partial.read_bytes()).hexdigest()
        recorded = {
            entry.record.sha256
            for entry in self.ledger.find_by_path(final)
            if isinstance(entry.record, AssetRecord)
        }
        if not recorded and not self.ledger.find_by_sha256(digest):
            partial.unlink(missing_ok=True)
            report.removed.append(partial)
        elif digest not in recorded or final.exists():
            report.conflicts.append(partial)
        else:
            os.replace(partial, final)
            report.restored.append(final)

"""`audit reconcile DIR`: the files in an output directory against what the ledger recorded.

Four kinds of finding:

* `missing`  — the ledger records an output under DIR but no file is at that path;
* `modified` — a file is at a recorded path but its SHA-256 is not the recorded one;
* `unknown`  — an image file under DIR that no ledger record names (when its bytes are
  recorded elsewhere, the finding says where: a copy or a move, not a new image);
* `partial`  — a leftover `.<name>.partial` file of an interrupted write (see
  `provenance.pipeline.store`): either a commit whose row exists but whose rename never happened,
  or a write that was never recorded.

Every finding fails reconciliation (exit 4), `unknown` included: an image in an output
directory with no ledger record is an output that bypassed the pipeline, which is what an
audit is for.  `allow_unknown` reports unknown files without failing, for directories that
also hold inputs.

Scale: the ledger side is streamed in path order (never held in memory) and merged with
the sorted file list; files are hashed in a thread pool (hashlib releases the GIL).  With
`recursive` off only DIR's own files count; hidden subdirectories are never walked
(recorded files inside them are still checked by path).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from provenance.audit.progress import ProgressFactory, no_progress
from provenance.audit.show import file_sha256
from provenance.errors import BadInputError
from provenance.ids import PARTIAL_SUFFIX
from provenance.imageio import looks_like_image
from provenance.ledger import Ledger, canonical_path, models

MISSING, MODIFIED, UNKNOWN, PARTIAL = "missing", "modified", "unknown", "partial"
STATUSES: tuple[str, ...] = (MISSING, MODIFIED, UNKNOWN, PARTIAL)
_STREAM_ROWS = 2_000


@dataclass(frozen=True)
class Finding:
    """One file (or recorded path) that does not reconcile, and why."""

    status: str
    path: str
    asset_ids: tuple[str, ...] = ()
    recorded_sha256: tuple[str, ...] = ()
    actual_sha256: str | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (`--json`: one line per finding)."""
        out = asdict(self)
        out["asset_ids"] = list(self.asset_ids)
        out["recorded_sha256"] = list(self.recorded_sha256)
        return out


@dataclass
class ReconcileReport:
    """Everything `reconcile` found, with counts for the summary line."""

    directory: str
    recursive: bool
    recorded: int = 0
    files: int = 0
    matched: int = 0
    findings: list[Finding] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Findings per status (every status present, zeros included)."""
        counts = dict.fromkeys(STATUSES, 0)
        for finding in self.findings:
            counts[finding.status] += 1
        return counts

    def ok(self, allow_unknown: bool = False) -> bool:
        """Whether the directory reconciles (unknown files pass only with `allow_unknown`)."""
        failing = [f for f in self.findings if not (allow_unknown and f.status == UNKNOWN)]
        return not failing

    def summary(self, allow_unknown: bool = False) -> dict[str, Any]:
        """The last `--json` line: totals and the verdict."""
        return {
            "status": "summary",
            "directory": self.directory,
            "recursive": self.recursive,
            "recorded": self.recorded,
            "files": self.files,
            "matched": self.matched,
            **self.counts(),
            "ok": self.ok(allow_unknown),
        }


@dataclass
class _Recorded:
    """What the ledger holds for one path under DIR (one path may be recorded more than once)."""

    path: str
    sha256: set[str] = field(default_factory=set)
    asset_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _DiskScan:
    images: list[str]
    partials: list[str]


def reconcile(
    ledger: Ledger,
    directory: str | Path,
    *,
    recursive: bool = False,
    workers: int | None = None,
    progress: ProgressFactory = no_progress,
) -> ReconcileReport:
    """Compare DIR with the ledger (files are hashed by `workers` threads)."""
    root = Path(canonical_path(directory))
    if not root.is_dir():
        what = "not a directory" if root.exists() else "no such directory"
        raise BadInputError(f"{directory}: {what}")
    disk = _scan(root, recursive)
    report = ReconcileReport(str(root), recursive, files=len(disk.images))
    with ledger.read_snapshot("reading recorded outputs") as conn:
        to_hash, unknown = _merge(_recorded_under(conn, root, recursive), disk.images, report)
    paths = [r.path for r in to_hash] + unknown
    with progress("hashing files", len(paths)) as bar:
        digests = _hash_all(paths, workers, bar.advance)
    for recorded in to_hash:
        _check_recorded(recorded, digests[recorded.path], report)
    report.findings.extend(_unknown(ledger, path, digests[path]) for path in unknown)
    report.findings.extend(_partial(ledger, Path(path)) for path in disk.partials)
    report.findings.sort(key=lambda f: (f.path, f.status))
    return report


def _scan(root: Path, recursive: bool) -> _DiskScan:
    """Image files and partial writes under `root`, sorted by path.

    A directory that cannot be listed fails the whole scan: skipping it would report its
    recorded files as reconciled without looking at them.
    """
    images: list[str] = []
    partials: list[str] = []
    for folder, dirs, files in os.walk(root, onerror=_unreadable, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if recursive else []
        for name in files:
            path = os.path.join(folder, name)
            if name.startswith(".") and name.endswith(PARTIAL_SUFFIX):
                partials.append(path)
            elif not name.startswith(".") and looks_like_image(Path(path)):
                images.append(path)
    return _DiskScan(sorted(images), sorted(partials))


def _unreadable(exc: OSError) -> None:
    raise BadInputError(f"{exc.filename}: cannot read directory ({exc.strerror or exc})") from exc


def _recorded_under(conn: Connection, root: Path, recursive: bool) -> Iterator[_Recorded]:
    """Recorded assets under `root`, one item per path, in code-point order of the path."""
    table = models.assets
    prefix = str(root).rstrip(os.sep) + os.sep
    path = table.c.path.collate("C") if conn.dialect.name == "postgresql" else table.c.path
    stmt = (
        sa.select(table.c.path, table.c.sha256, table.c.asset_id)
        .where(table.c.path.startswith(prefix, autoescape=True))
        .order_by(path, table.c.seq)
        .execution_options(yield_per=_STREAM_ROWS)
    )
    rows = conn.execute(stmt)
    for key, group in groupby(rows, key=lambda row: row.path):
        if not recursive and os.sep in key[len(prefix) :]:
            continue
        recorded = _Recorded(key)
        for row in group:
            recorded.sha256.add(row.sha256)
            recorded.asset_ids.append(row.asset_id)
        yield recorded


def _merge(
    recorded: Iterator[_Recorded], images: list[str], report: ReconcileReport
) -> tuple[list[_Recorded], list[str]]:
    """Merge two path-sorted streams: recorded paths to hash, and unknown files."""
    to_hash: list[_Recorded] = []
    unknown: list[str] = []
    files = iter(images)
    current = next(files, None)
    for item in recorded:
        report.recorded += 1
        while current is not None and current < item.path:
            unknown.append(current)
            current = next(files, None)
        if current == item.path:
            current = next(files, None)
            to_hash.append(item)
        elif os.path.lexists(item.path):
            to_hash.append(item)  # present but not listed: not image-like, or in a hidden dir
        else:
            report.findings.append(_missing(item))
    while current is not None:
        unknown.append(current)
        current = next(files, None)
    return to_hash, unknown


def _hash_all(
    paths: list[str], workers: int | None, progress: Callable[[int], None]
) -> dict[str, str | BadInputError]:
    """SHA-256 of every path (or the error reading it), hashed in parallel."""

    def one(path: str) -> tuple[str, str | BadInputError]:
        try:
            return path, file_sha256(Path(path))
        except BadInputError as exc:
            return path, exc

    results: dict[str, str | BadInputError] = {}
    with ThreadPoolExecutor(max_workers=workers or min(8, (os.cpu_count() or 1) + 2)) as pool:
        for path, digest in pool.map(one, paths):
            results[path] = digest
            progress(1)
    return results


def _missing(item: _Recorded) -> Finding:
    return Finding(
        MISSING,
        item.path,
        tuple(item.asset_ids),
        tuple(sorted(item.sha256)),
        detail="recorded in the ledger, no file at this path",
    )


def _check_recorded(item: _Recorded, digest: str | BadInputError, report: ReconcileReport) -> None:
    if isinstance(digest, str) and digest in item.sha256:
        report.matched += 1
        return
    detail = (
        f"cannot be read: {digest}"
        if isinstance(digest, BadInputError)
        else "file bytes differ from the recorded SHA-256"
    )
    actual = digest if isinstance(digest, str) else None
    report.findings.append(
        Finding(
            MODIFIED, item.path, tuple(item.asset_ids), tuple(sorted(item.sha256)), actual, detail
        )
    )


def _unknown(ledger: Ledger, path: str, digest: str | BadInputError) -> Finding:
    if isinstance(digest, BadInputError):
        return Finding(UNKNOWN, path, detail=f"no ledger record; cannot be read: {digest}")
    elsewhere = ledger.find_by_sha256(digest)
    if not elsewhere:
        return Finding(UNKNOWN, path, actual_sha256=digest, detail="no ledger record")
    first = elsewhere[0].record
    where = getattr(first, "path", "?")
    return Finding(
        UNKNOWN,
        path,
        tuple(e.id for e in elsewhere),
        (digest,),
        digest,
        detail=f"not recorded at this path; the same bytes are recorded at {where}",
    )


def _partial(ledger: Ledger, partial: Path) -> Finding:
    final = partial.with_name(partial.name[1 : -len(PARTIAL_SUFFIX)])
    recorded = ledger.find_by_path(final)
    detail = (
        f"interrupted commit: recorded as {final} but never renamed into place"
        if recorded
        else "interrupted write: never recorded in the ledger"
    )
    return Finding(
        PARTIAL,
        str(partial),
        tuple(e.id for e in recorded),
        tuple(sorted({getattr(e.record, "sha256", "") for e in recorded})),
        detail=detail,
    )

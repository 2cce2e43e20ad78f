"""Verifying files: content credentials (c2pa), trust in the signer, and the ledger record.

    >>> verifier = Verifier(settings)                          # doctest: +SKIP
    >>> [r.state for r in verifier.verify_many(paths, workers=2)]  # doctest: +SKIP

A file is `ok` only when c2pa's validation state is `Trusted` (signature valid and chaining
to a configured anchor: `[trust] anchors` plus `--trust-anchors`) and, when a ledger check is
configured, the ledger holds a record with the same bytes (`ledger_match`: recorded,
recorded asset with different bytes, or not recorded).  Hostile or broken files never
raise: each path yields a report whose state and one-line reason say what is wrong.

Parallelism: c2pa's reader calls back into Python for every read of the asset stream, so
threads contend for the GIL (measured 1.5x with 2 threads on an idle 2-core machine, against
1.8x with 2 processes); `verify_many` therefore uses forked worker processes where the
platform has `fork`, and threads elsewhere.  Worker processes start when `verify_many` is
called, before the caller starts any progress-bar thread; a worker that dies (a native crash
on a hostile file) costs no results: the rest of the batch is verified in-process.  The
ledger check always runs in the calling process, so it may hold database connections; it
is asked about `LEDGER_BATCH` files at a time (a few queries per batch, not per file), and
workers send back reports only, never file bytes (each file is hashed once, where it is read).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from provenance.credentials.trust import read_pem_bundle, verification_settings
from provenance.errors import BadInputError, ProvenantError
from provenance.imageio import looks_like_image, read_file
from provenance.verify.ledger_match import LedgerLookup, LedgerQuery
from provenance.verify.reading import read_credentials  # imported once, before forking
from provenance.verify.report import (
    FAILED_STATES,
    LedgerMatch,
    State,
    VerificationReport,
    exit_code,
)

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

    import c2pa
    from cryptography import x509

    from provenance.config import Settings

__all__ = [
    "LedgerCheck",
    "LedgerMatch",
    "LedgerQuery",
    "State",
    "VerificationReport",
    "Verifier",
    "default_ledger_check",
    "default_workers",
    "exit_code",
    "expand_paths",
]

#: `ledger_check(queries)`: the ledger's view of each file, in order (None: not recorded).
LedgerCheck = Callable[[Sequence[LedgerQuery]], Sequence[LedgerMatch | None]]

log = logging.getLogger(__name__)

#: c2pa-python 0.38.1 ignores `trust.allowed_list` while reading; trust is c2pa's alone.
ALLOWED_LIST_IGNORED = (
    "[trust] allowed_certificates is passed to c2pa, which does not apply it in this "
    "version: their signers verify as valid_untrusted; add their root to [trust] anchors"
)

#: Below this many files the worker pool's start (~15 ms) costs more than it saves.
PARALLEL_MIN_FILES = 16

#: Files asked about in one ledger lookup: large enough that queries cost little per file,
#: small enough that `--json` lines still stream.
LEDGER_BATCH = 128


def default_ledger_check(settings: Settings) -> LedgerCheck | None:
    """The ledger cross-check `provenant verify` uses unless `--no-ledger` is given.

    None when this machine has no studio ledger (no database configured or initialised):
    then only the credentials are verified.
    """
    from provenance.verify.ledger_match import ledger_configured

    return LedgerLookup(settings) if ledger_configured(settings) else None


class Verifier:
    """Verifies files against one trust configuration (anchors, fetch policy, ledger)."""

    def __init__(
        self,
        settings: Settings,
        extra_anchors: Sequence[Path] = (),
        ledger_check: LedgerCheck | None = None,
        *,
        details: bool = False,
        extra_cawg_anchors: Sequence[Path] = (),
    ) -> None:
        """Read the anchors now, so a missing anchor file is one clear error up front.

        `details` adds the manifest store, c2pa's detailed JSON and the certificate chain
        to every report (`--tree`, `--certs`, `--detailed`).  `extra_cawg_anchors` add to
        `[trust] cawg_anchors`: roots for CAWG identity credentials, not for claim signers.
        """
        anchors = [*settings.trust.anchors, *extra_anchors]
        allowed = list(settings.trust.allowed_certificates)
        allowed_pem = read_pem_bundle(allowed, "allowed certificate")
        if allowed_pem:
            log.warning(ALLOWED_LIST_IGNORED)
        cawg = [*settings.trust.cawg_anchors, *extra_cawg_anchors]
        cawg_pem = read_pem_bundle(cawg, "CAWG trust anchor")
        self._c2pa_settings = verification_settings(
            read_pem_bundle(anchors, "trust anchor"),
            allowed_pem,
            fetch_remote_manifests=settings.trust.fetch_remote_manifests,
            ocsp_fetch=settings.trust.ocsp_fetch,
            cawg_anchors_pem=cawg_pem,
        )
        self._cawg_anchors = _certificates(cawg_pem)
        self._ledger_check = ledger_check
        self._details = details
        self._context: c2pa.Context | None = None
        self._context_pid = -1
        self._hasher: ThreadPoolExecutor | None = None
        self._hasher_pid = -1
        self._c2pa_context()  # bad trust settings fail here, not once per file

    def _c2pa_context(self) -> c2pa.Context:
        """One c2pa context per process (a forked worker cannot use its parent's)."""
        import c2pa

        from provenance.errors import ConfigError, translate_errors

        if self._context is None or self._context_pid != os.getpid():
            with translate_errors("trust settings", override=ConfigError):
                self._context = c2pa.Context.from_dict(self._c2pa_settings)
            self._context_pid = os.getpid()
        return self._context

    def verify_file(self, path: str | Path) -> VerificationReport:
        """Verify one file; never raises for anything wrong with the file itself."""
        return self._with_ledger([self._read(Path(path))])[0]

    def verify_bytes(self, data: bytes, name: str) -> VerificationReport:
        """Verify a file held in memory (an upload), reported under `name`; never raises for
        anything wrong with the bytes, exactly like `verify_file`."""
        return self._with_ledger([self._read_data(Path(name), data)], [data])[0]

    def verify_many(
        self, paths: Iterable[str | Path], workers: int = 1
    ) -> Iterator[VerificationReport]:
        """Verify files in input order, with up to `workers` processes (or threads).

        A bad file yields its report and the batch goes on.
        """
        todo = [Path(p) for p in paths]
        workers = min(workers, len(todo))
        if workers <= 1:
            return self._in_batches(self._read(p) for p in todo)
        import multiprocessing

        if "fork" in multiprocessing.get_all_start_methods():
            return self._in_batches(self._in_processes(todo, workers))
        return self._in_batches(self._in_threads(todo, workers))

    def _in_batches(self, reports: Iterable[VerificationReport]) -> Iterator[VerificationReport]:
        """Credential reports in, finished reports out: the ledger asked once per batch."""
        pending: list[VerificationReport] = []
        for report in reports:
            pending.append(report)
            if self._ledger_check is None or len(pending) >= LEDGER_BATCH:
                yield from self._with_ledger(pending)
                pending = []
        yield from self._with_ledger(pending)

    def _in_processes(self, paths: list[Path], workers: int) -> Iterator[VerificationReport]:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        global _WORKER_VERIFIER
        _WORKER_VERIFIER = self  # inherited by the forked workers, never pickled
        executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        chunk = max(1, min(16, len(paths) // (workers * 4)))
        # map() submits every task now, so the workers fork before the caller starts threads.
        results = executor.map(_read_in_worker, paths, chunksize=chunk)
        return self._drain(executor, results, paths)

    def _drain(
        self,
        executor: ProcessPoolExecutor,
        results: Iterator[VerificationReport],
        paths: list[Path],
    ) -> Iterator[VerificationReport]:
        """Yield worker results in order; if a worker dies, finish the batch in-process."""
        from concurrent.futures.process import BrokenProcessPool

        done = 0
        try:
            for report in results:
                done += 1
                yield report
        except BrokenProcessPool:
            log.warning("a verification worker died; verifying the remaining files in-process")
            for path in paths[done:]:
                yield self._read(path)
        finally:
            executor.shutdown(wait=True, cancel_futures=True)

    def _in_threads(self, paths: list[Path], workers: int) -> Iterator[VerificationReport]:
        executor = ThreadPoolExecutor(workers, thread_name_prefix="provenant-verify")
        try:
            yield from executor.map(self._read, paths)
        finally:
            executor.shutdown(cancel_futures=True)

    def _read(self, path: Path) -> VerificationReport:
        """The credentials part of a report, with the file's SHA-256 when the ledger needs it."""
        try:
            data = _read_candidate(path)
        except ProvenantError as exc:
            return VerificationReport(path, State.UNREADABLE, exc.diagnostics())
        return self._read_data(path, data)

    def _read_data(self, path: Path, data: bytes) -> VerificationReport:
        """The credentials part of a report for bytes already read (a file or an upload).

        The SHA-256 the ledger match needs is computed in a thread while c2pa reads: both
        release the GIL (c2pa through ctypes, hashlib for buffers over 2 KiB), so on two
        cores the hash costs no wall time.
        """
        digest = self._hash_soon(data) if self._ledger_check is not None else None
        try:
            report = read_credentials(
                path,
                data,
                self._c2pa_context(),
                details=self._details,
                cawg_anchors=self._cawg_anchors,
            )
        except ProvenantError as exc:
            return VerificationReport(path, State.UNREADABLE, exc.diagnostics())
        except Exception as exc:
            return _error_report(path, exc)
        if digest is None or report.state is State.UNREADABLE:
            return report
        return replace(report, sha256=digest.result())

    def _hash_soon(self, data: bytes) -> Future[str]:
        """sha256(data) as hex, computed by this process's hashing thread."""
        if self._hasher is None or self._hasher_pid != os.getpid():  # a forked worker: anew
            self._hasher = ThreadPoolExecutor(1, thread_name_prefix="provenant-sha256")
            self._hasher_pid = os.getpid()
        return self._hasher.submit(_sha256_hex, data)

    def _with_ledger(
        self, reports: list[VerificationReport], datas: Sequence[bytes] | None = None
    ) -> list[VerificationReport]:
        """The ledger's answer added to every report it can be asked about (one lookup).

        `datas`, when given, are the reports' bytes (uploads, which have no path to re-read
        for recovery)."""
        if self._ledger_check is None:
            return reports
        asked = [i for i, r in enumerate(reports) if r.sha256 is not None]
        if not asked:
            return reports
        out = list(reports)
        try:
            matches = self._ledger_check([LedgerQuery.of(reports[i]) for i in asked])
        except Exception as exc:
            detail = exc.diagnostics() if isinstance(exc, ProvenantError) else _one_line(exc)
            message = f"ledger check failed: {detail}"
            for i in asked:
                out[i] = replace(
                    reports[i], ledger_error=message, reason=f"{reports[i].reason}; {message}"
                )
            return out
        for i, match in zip(asked, matches, strict=True):
            data = datas[i] if datas is not None else None
            out[i] = self._recovered(_with_match(reports[i], match), data)
        return out

    def _recovered(
        self, report: VerificationReport, data: bytes | None = None
    ) -> VerificationReport:
        """A file without trusted credentials, looked up by its watermark and fingerprint.

        Only files whose bytes the ledger does not hold are tried (a recorded file needs no
        recovery), and only through a ledger check that can recover (`LedgerLookup`).
        """
        check = self._ledger_check
        if not isinstance(check, LedgerLookup) or report.state not in FAILED_STATES:
            return report
        if report.ledger is not None and report.ledger.hash_match:
            return report
        try:
            if not check.can_recover():
                return report
            found = check.recover(data if data is not None else _read_candidate(report.path))
        except Exception as exc:
            detail = exc.diagnostics() if isinstance(exc, ProvenantError) else _one_line(exc)
            return replace(report, reason=f"{report.reason}; recovery failed: {detail}")
        if found is None:
            return report
        how = found["found_by"]
        if found.get("fingerprint_distance") is not None:
            how += f", fingerprint distance {found['fingerprint_distance']}"
        line = f"recovered from the ledger: asset {found['asset_id']} ({how}"
        line += f"; {found['copy']})" if found.get("copy") else ")"
        if found.get("fingerprint_mismatch"):
            line += "; FINGERPRINT MISMATCH: the watermark names an asset these pixels are not"
        if (found.get("record") or {}).get("chain_ok") is False:
            line += "; its ledger row fails the hash-chain check"
        return replace(report, recovery=found, reason=f"{report.reason}; {line}")


def _with_match(report: VerificationReport, match: LedgerMatch | None) -> VerificationReport:
    match = match or LedgerMatch(found=False, detail="not recorded in the ledger")
    reason = report.reason
    if not match.ok:
        reason = f"{reason}; ledger: {match.detail or _ledger_problem(match)}"
    return replace(report, ledger=match, reason=reason)


_WORKER_VERIFIER: Verifier | None = None


def _error_report(path: Path, exc: BaseException) -> VerificationReport:
    """What could not be read is reported, not raised: state `error`, one line why."""
    log.debug("verifying %s failed", path, exc_info=exc)
    return VerificationReport(path, State.ERROR, f"could not verify this file ({_one_line(exc)})")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _read_in_worker(path: Path) -> VerificationReport:
    """Pool task: runs in a forked process that inherited `_WORKER_VERIFIER`."""
    assert _WORKER_VERIFIER is not None, "worker started without a verifier"
    return _WORKER_VERIFIER._read(path)


def _ledger_problem(match: LedgerMatch) -> str:
    if not match.found:
        return "not recorded in the ledger"
    if not match.hash_match:
        return "file differs from the recorded asset"
    return "ledger hash chain broken at this record"


def _read_candidate(path: Path) -> bytes:
    if path.is_dir():
        raise BadInputError(f"{path}: is a directory; pass -r to verify the images inside")
    return read_file(path)


def _certificates(pem: str) -> tuple[x509.Certificate, ...]:
    """The certificates of a PEM bundle (already checked by `read_pem_bundle`)."""
    if not pem:
        return ()
    from cryptography import x509

    return tuple(x509.load_pem_x509_certificates(pem.encode()))


def expand_paths(paths: Iterable[str | Path], recursive: bool) -> list[Path]:
    """The files to verify: given files as they are, directories walked when `recursive`.

    Inside directories only images are picked (by extension, or by their first bytes), so a
    folder that also holds notes or sidecars verifies cleanly; hidden entries are skipped
    and symlinked directories are not followed.  A directory given without `recursive` is
    kept, and its report says to pass -r.
    """
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if recursive and path.is_dir():
            out.extend(_images_under(path))
        else:
            out.append(path)
    return out


def _images_under(root: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            candidate = Path(folder) / name
            if not name.startswith(".") and looks_like_image(candidate):
                yield candidate


def default_workers(file_count: int) -> int:
    """Workers for `verify` when `--workers` is not given: one per CPU for big batches."""
    if file_count < PARALLEL_MIN_FILES:
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

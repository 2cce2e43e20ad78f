"""Concurrent writers (threads and processes) extend one chain: no fork, no gap, no error."""

from __future__ import annotations

import functools
import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from provenance.errors import DuplicateRecordError
from provenance.ledger import Ledger
from tests.integration.ledger.samples import sample_asset, sample_refusal, write_samples

WRITERS = 8
PER_WRITER = 250


def _assert_one_intact_chain(ledger: Ledger, expected: int) -> None:
    report = ledger.verify_chain()
    assert report.ok, report.describe()
    assert report.count == report.head_seq == expected
    assert len({e.id for e in ledger.iter_entries()}) == expected


def _threads(ledger: Ledger, per_writer: int, batch: int = 1) -> int:
    with ThreadPoolExecutor(WRITERS) as pool:
        written = pool.map(lambda w: write_samples(ledger, w, per_writer, batch), range(WRITERS))
        return sum(written)


def test_threads_share_one_chain(ledger: Ledger) -> None:
    """A quick version of the 2,000-row run below, for every test run."""
    assert _threads(ledger, 25) == WRITERS * 25
    _assert_one_intact_chain(ledger, WRITERS * 25)


@pytest.mark.slow
def test_threads_share_one_chain_2000_rows(ledger: Ledger) -> None:
    assert _threads(ledger, PER_WRITER) == WRITERS * PER_WRITER
    _assert_one_intact_chain(ledger, WRITERS * PER_WRITER)


@pytest.mark.slow
def test_processes_share_one_chain(ledger: Ledger, database_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(WRITERS) as pool:
        written = pool.starmap(
            write_samples, [(database_url, w, PER_WRITER) for w in range(WRITERS)]
        )
    assert sum(written) == WRITERS * PER_WRITER
    _assert_one_intact_chain(ledger, WRITERS * PER_WRITER)


def test_batched_threads_share_one_chain(ledger: Ledger) -> None:
    assert _threads(ledger, 60, batch=20) == WRITERS * 60
    _assert_one_intact_chain(ledger, WRITERS * 60)


def test_duplicate_asset_is_refused_and_nothing_changes(ledger: Ledger) -> None:
    first = ledger.append_asset(sample_asset(1))
    head = ledger.head()
    same_request_index = sample_asset(2, request_id="req-000001")
    for duplicate in (sample_asset(1), same_request_index):
        with pytest.raises(DuplicateRecordError, match="already in the ledger at seq 1") as err:
            ledger.append_asset(duplicate)
        assert err.value.existing.id == first.id  # type: ignore[attr-defined]
    assert ledger.head() == head
    assert ledger.get_asset("ast-000002") is None
    assert ledger.verify_chain().ok


def test_duplicate_in_a_batch_writes_nothing(ledger: Ledger) -> None:
    ledger.append_asset(sample_asset(1))
    head = ledger.head()
    with pytest.raises(DuplicateRecordError):
        ledger.append_many([sample_asset(2), sample_asset(1)])
    with pytest.raises(DuplicateRecordError, match="twice in one batch"):
        ledger.append_many([sample_asset(3), sample_asset(3)])
    assert ledger.head() == head and ledger.get_asset("ast-000002") is None


def test_duplicate_refusal_is_refused(ledger: Ledger) -> None:
    ledger.append_refusal(sample_refusal(1))
    with pytest.raises(DuplicateRecordError):
        ledger.append_refusal(sample_refusal(1, refusal_id="ref-other"))
    ledger.append_refusal(sample_refusal(1, refusal_id="ref-img", stage="image", image_index=0))
    ledger.append_refusal(sample_refusal(1, refusal_id="ref-img1", stage="image", image_index=1))
    with pytest.raises(DuplicateRecordError):
        ledger.append_refusal(
            sample_refusal(1, refusal_id="ref-img2", stage="image", image_index=1)
        )
    assert ledger.head()[0] == 3


def test_verifying_while_writers_append_sees_a_consistent_snapshot(ledger: Ledger) -> None:
    """Head and entries are read in one snapshot, so a growing ledger never looks broken."""
    with ThreadPoolExecutor(3) as pool:
        writing = [pool.submit(write_samples, ledger, w, 30) for w in range(2)]
        reports = []
        while not all(f.done() for f in writing):
            reports.append(ledger.verify_chain())
        for future in writing:
            future.result()
    assert reports and all(r.ok for r in reports), [r.describe() for r in reports if not r.ok]
    _assert_one_intact_chain(ledger, 60)


def _record_at_once(barrier: threading.Barrier, info: dict[str, str], ledger: Ledger) -> bool:
    barrier.wait()
    return ledger.record_signing_key(info)


def test_writers_starting_together_record_the_signing_key_once(database_url: str) -> None:
    """Every `generate` records its certificate on first use; several starting at once race.

    Each writer has its own engine, as separate processes do.  On SQLite a read-then-insert in
    a deferred transaction fails at once ("database is locked") when another writer commits
    in between, so the check and the insert must hold the write lock together.
    """
    rounds, writers = 12, 6
    ledgers = [Ledger.from_url(database_url) for _ in range(writers)]
    ledgers[0].upgrade()
    try:
        with ThreadPoolExecutor(writers) as pool:
            for n in range(rounds):
                info = {"fingerprint": f"{n:02x}" * 32, "subject": "CN=Studio", "issuer": "CN=CA"}
                record = functools.partial(_record_at_once, threading.Barrier(writers), info)
                firsts = list(pool.map(record, ledgers))
                assert firsts.count(True) == 1, (n, firsts)
    finally:
        for ledger in ledgers:
            ledger.close()

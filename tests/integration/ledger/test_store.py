"""AssetStore: a file and its ledger row are committed together, or not at all."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

from provenance.errors import BadInputError, LedgerError, StoreError
from provenance.ledger import Ledger
from provenance.pipeline.store import AssetStore, partial_path
from tests.integration.ledger.samples import sample_asset

DATA = b"\x89PNG\r\n\x1a\n pretend image bytes"
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def store(ledger: Ledger) -> AssetStore:
    return AssetStore(ledger)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An output dir of its own (the SQLite ledger lives beside it in tmp_path)."""
    path = tmp_path / "out"
    path.mkdir()
    return path


def _record(index: int = 1, data: bytes = DATA):
    return sample_asset(index, sha256=hashlib.sha256(data).hexdigest(), path="")


def test_commit_fsyncs_then_renames(
    store: AssetStore, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(
        os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b))[1]
    )
    stored = store.commit(out, "req-1-00.png", DATA, _record())

    assert stored.path == out.resolve() / "req-1-00.png"
    assert stored.path.read_bytes() == DATA
    assert not partial_path(stored.path).exists()
    assert calls == ["fsync", "replace", "fsync"]  # file data, rename, directory
    entry = store.ledger.get_asset("ast-000001")
    assert entry is not None and entry.record.path == str(stored.path)
    assert [e.id for e in store.ledger.find_by_path(out / "req-1-00.png")] == ["ast-000001"]


def test_enospc_while_writing_leaves_nothing(
    store: AssetStore, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(StoreError, match="No space left on device"):
        store.commit(out, "a.png", DATA, _record())
    assert list(out.iterdir()) == []
    assert store.ledger.head()[0] == 0


def test_database_error_leaves_no_file(
    store: AssetStore, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(record: object, soft_binding: object = None) -> None:
        raise LedgerError("appending to the ledger: connection lost")

    monkeypatch.setattr(store.ledger, "append_asset", broken)
    with pytest.raises(LedgerError, match="connection lost"):
        store.commit(out, "a.png", DATA, _record())
    assert list(out.iterdir()) == []


def test_duplicate_row_leaves_no_file(store: AssetStore, out: Path) -> None:
    store.commit(out, "a.png", DATA, _record())
    with pytest.raises(LedgerError, match="already in the ledger"):
        store.commit(out, "b.png", DATA, _record())
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]


def test_crash_after_commit_is_rolled_forward(
    store: AssetStore, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(self: AssetStore, partial: Path, final: Path, overwrite: bool = False) -> None:
        raise KeyboardInterrupt  # the process dies between the ledger commit and the rename

    monkeypatch.setattr(AssetStore, "_publish", crash)
    with pytest.raises(KeyboardInterrupt):
        store.commit(out, "a.png", DATA, _record())
    monkeypatch.undo()
    assert [p.name for p in out.iterdir()] == [".a.png.partial"]

    report = store.recover(out)

    assert report.restored == [out.resolve() / "a.png"] and report.removed == []
    assert (out / "a.png").read_bytes() == DATA and report.clean
    assert store.recover(out).restored == []  # idempotent


def test_partial_without_row_is_deleted(store: AssetStore, out: Path) -> None:
    orphan = out / ".req-9-00.png.partial"
    orphan.write_bytes(b"half written")
    report = store.recover(out)
    assert report.removed == [orphan.resolve()] and not orphan.exists()


def test_partial_with_other_bytes_is_kept_for_a_person(store: AssetStore, out: Path) -> None:
    store.commit(out, "a.png", DATA, _record())
    (out / "a.png").rename(out / ".a.png.partial")
    (out / ".a.png.partial").write_bytes(b"different")
    report = store.recover(out)
    assert report.conflicts == [(out / ".a.png.partial").resolve()] and not report.clean
    assert (out / ".a.png.partial").exists()


def test_never_overwrites(store: AssetStore, out: Path) -> None:
    (out / "a.png").write_bytes(b"precious")
    with pytest.raises(StoreError, match="refusing to overwrite"):
        store.commit(out, "a.png", DATA, _record())
    assert (out / "a.png").read_bytes() == b"precious"
    assert store.ledger.head()[0] == 0


def test_leftover_partial_blocks_until_recovered(store: AssetStore, out: Path) -> None:
    (out / ".a.png.partial").write_bytes(b"old")
    with pytest.raises(StoreError, match="interrupted run"):
        store.commit(out, "a.png", DATA, _record())
    assert (out / ".a.png.partial").read_bytes() == b"old"


def test_sha256_must_match_the_bytes(store: AssetStore, out: Path) -> None:
    with pytest.raises(StoreError, match="not that of the bytes"):
        store.commit(out, "a.png", b"other bytes", _record())
    assert list(out.iterdir()) == []


def test_unsafe_name_is_rejected_before_anything_is_written(store: AssetStore, out: Path) -> None:
    with pytest.raises(BadInputError, match="not allowed"):
        store.commit(out / "sub", "../escape.png", DATA, _record())
    assert list(out.iterdir()) == [] and not (out.parent / "escape.png").exists()
    assert store.ledger.head()[0] == 0

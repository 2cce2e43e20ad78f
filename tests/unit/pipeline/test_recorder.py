"""The farm's batched recorder without Ray or a database: when it commits, and what it reports.

A fake store stands in for `AssetStore`: it records each `commit_many` batch and each
one-row `commit`, and can be told to fail either, so the flush rules (full batch, oldest
image waited long enough, the end) and the per-request outcomes after a failed batch are
checked exactly.
"""

from __future__ import annotations

from collections.abc import Container
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from provenance.errors import DuplicateRecordError, LedgerError, PolicyBlocked, StoreError
from provenance.pipeline.publish import Sealed
from provenance.pipeline.recorder import BatchRecorder
from provenance.pipeline.results import GenerationResult
from provenance.pipeline.studio import SealedImage, SealedRequest
from provenance.verdict import Verdict


class FakeStore:
    """`commit_many` and `commit` as the recorder calls them, with failures on demand."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.singles: list[str] = []
        self.fail_batch: Exception | None = None
        self.fail_single: set[str] = set()
        self.fail_rename: set[str] = set()

    def commit_many(self, commits: list[Any]) -> list[Any]:
        if self.fail_batch is not None:
            raise self.fail_batch
        self.batches.append([c.filename for c in commits])
        return [
            StoreError(f"{c.filename}: not renamed")
            if c.filename in self.fail_rename
            else SimpleNamespace(path=Path(c.filename), entry=None)
            for c in commits
        ]

    def commit(self, out_dir: Path, filename: str, data: bytes, record: Any, **_: Any) -> Any:
        if filename in self.fail_single:
            raise DuplicateRecordError(f"{filename} is already in the ledger")
        self.singles.append(filename)
        return SimpleNamespace(path=out_dir / filename, entry=None)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _sealed(request_id: str, images: int, watermark: int | None = None) -> SealedRequest:
    outputs = []
    for index in range(images):
        image = SimpleNamespace(index=index, seed=index)
        pub = SimpleNamespace(
            out_dir=Path("out"), filename=f"{request_id}-{index:02d}.png", overwrite=False,
            image=image,
        )  # fmt: skip
        signed = SimpleNamespace(data=b"x", sha256="0" * 64, manifest_label="urn:label")
        binding = {"watermark_id": watermark + index} if watermark is not None else None
        sealed = Sealed(pub, f"asset-{request_id}-{index}", signed, None, binding)  # type: ignore[arg-type]
        outputs.append(SealedImage(sealed, Verdict.allow()))
    result = GenerationResult(request_id, "done", Verdict.allow())
    return SealedRequest(result, tuple(outputs))


def _seal(request_id: str, images: int = 1, watermark: int | None = None) -> Any:
    def seal(reserved: Container[int]) -> SealedRequest:
        return _sealed(request_id, images, watermark)

    return seal


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _recorder(store: FakeStore, clock: Clock, **kwargs: Any) -> BatchRecorder:
    return BatchRecorder(SimpleNamespace(store=store), clock=clock, **kwargs)  # type: ignore[arg-type]


def test_a_full_batch_is_committed_in_one_call_and_reported_then(store, clock) -> None:
    recorder = _recorder(store, clock, max_images=3, max_wait_s=60)
    assert recorder.add("a", 1, _seal("a")) == []
    assert recorder.add("b", 2, _seal("b")) == []
    assert store.batches == [] and recorder.images_waiting == 2
    outcomes = recorder.add("c", 3, _seal("c"))
    assert [(o.request_id, o.outcome, o.line_no) for o in outcomes] == [
        ("a", "done", 1), ("b", "done", 2), ("c", "done", 3),
    ]  # fmt: skip
    assert store.batches == [["a-00.png", "b-00.png", "c-00.png"]] and store.singles == []
    assert [len(o.result.images) for o in outcomes if o.result] == [1, 1, 1]
    assert recorder.images_waiting == 0 and recorder.wait_s() is None


def test_a_request_is_never_split_across_batches(store, clock) -> None:
    recorder = _recorder(store, clock, max_images=2, max_wait_s=60)
    assert recorder.add("a", 1, _seal("a")) == []
    outcomes = recorder.add("b", 2, _seal("b", images=3))
    assert [o.outcome for o in outcomes] == ["done", "done"]
    assert store.batches == [["a-00.png", "b-00.png", "b-01.png", "b-02.png"]]
    assert [i.index for i in outcomes[1].result.images] == [0, 1, 2]


def test_the_oldest_waiting_image_sets_the_deadline(store, clock) -> None:
    recorder = _recorder(store, clock, max_images=64, max_wait_s=0.5)
    assert recorder.wait_s() is None and not recorder.due()
    recorder.add("a", 1, _seal("a"))
    clock.now += 0.3
    recorder.add("b", 2, _seal("b"))
    assert recorder.wait_s() == pytest.approx(0.2) and not recorder.due()
    assert recorder.flush_if_due() == []
    clock.now += 0.2
    assert recorder.due() and recorder.wait_s() == 0.0
    assert [o.request_id for o in recorder.flush_if_due()] == ["a", "b"]
    assert store.batches == [["a-00.png", "b-00.png"]]


def test_flush_at_the_end_commits_what_waits_and_nothing_twice(store, clock) -> None:
    recorder = _recorder(store, clock, max_images=64, max_wait_s=60)
    recorder.add("a", 1, _seal("a", images=2))
    assert [o.request_id for o in recorder.flush()] == ["a"]
    assert recorder.flush() == [] and len(store.batches) == 1


def test_a_refused_request_is_reported_at_once_and_commits_nothing(store, clock) -> None:
    recorder = _recorder(store, clock, max_images=2, max_wait_s=60)

    def refused(reserved: Container[int]) -> SealedRequest:
        raise PolicyBlocked("every image of r refused", Verdict.allow())

    def broken(reserved: Container[int]) -> SealedRequest:
        raise StoreError("cannot sign")

    blocked = recorder.add("r", 1, refused)
    failed = recorder.add("f", 2, broken)
    assert [(o.request_id, o.outcome) for o in blocked + failed] == [
        ("r", "blocked"), ("f", "failed"),
    ]  # fmt: skip
    assert failed[0].error == "cannot sign"
    assert recorder.images_waiting == 0 and store.batches == []


def test_after_a_failed_batch_each_request_is_committed_on_its_own(store, clock) -> None:
    recorder = _recorder(store, clock, max_images=3, max_wait_s=60)
    store.fail_batch = DuplicateRecordError("asset b-00 is already in the ledger")
    store.fail_single = {"b-00.png"}
    recorder.add("a", 1, _seal("a"))
    recorder.add("b", 2, _seal("b"))
    outcomes = recorder.add("c", 3, _seal("c"))
    assert [(o.request_id, o.outcome) for o in outcomes] == [
        ("a", "done"), ("b", "failed"), ("c", "done"),
    ]  # fmt: skip
    assert "already in the ledger" in (outcomes[1].error or "")
    assert store.singles == ["a-00.png", "c-00.png"] and store.batches == []


def test_a_ledger_that_is_down_fails_every_request_of_the_batch(store, clock) -> None:
    recorder = _recorder(store, clock, max_images=64, max_wait_s=60)
    store.fail_batch = LedgerError("appending to the ledger: connection refused")
    store.fail_single = {"a-00.png", "b-00.png"}
    recorder.add("a", 1, _seal("a"))
    recorder.add("b", 2, _seal("b"))
    assert [o.outcome for o in recorder.flush()] == ["failed", "failed"]
    assert store.singles == []


def test_a_file_not_renamed_fails_only_its_request(store, clock) -> None:
    recorder = _recorder(store, clock, max_images=64, max_wait_s=60)
    store.fail_rename = {"b-01.png"}
    recorder.add("a", 1, _seal("a"))
    recorder.add("b", 2, _seal("b", images=2))
    outcomes = recorder.flush()
    assert [o.outcome for o in outcomes] == ["done", "failed"]
    assert outcomes[1].error == "b-01.png: not renamed"


def test_waiting_watermark_ids_are_reserved_for_the_next_seal(store, clock) -> None:
    recorder = _recorder(store, clock, max_images=64, max_wait_s=60)
    seen: list[set[int]] = []

    def seal(reserved: Container[int]) -> SealedRequest:
        seen.append({i for i in range(10, 20) if i in reserved})
        return _sealed("b", 1, watermark=15)

    recorder.add("a", 1, _seal("a", images=2, watermark=11))
    recorder.add("b", 2, seal)
    assert seen == [{11, 12}]
    assert recorder.reserved == {11, 12, 15}
    recorder.flush()
    assert recorder.reserved == set()


def test_a_batch_needs_room_for_one_image() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        BatchRecorder(SimpleNamespace(store=FakeStore()), max_images=0)  # type: ignore[arg-type]

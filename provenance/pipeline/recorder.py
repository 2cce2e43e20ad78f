"""Recording finished requests in batches: many images, one ledger transaction.

Why: recording each image in its own transaction (`AssetStore.commit`) caps the farm's
driver at the database's commit rate, a few hundred images a second at best, while a pool of
GPU workers can return pixels faster.  `Ledger.append_many` chains many rows under one head
lock and one commit, so the driver seals (screens and signs) each request as its pixels come
back and commits the waiting outputs together (`AssetStore.commit_many`).

When a batch is committed (`due`): as soon as `max_images` images wait, when the oldest has
waited `max_wait_s` (a slow farm still reports promptly), and always at the end of a run;
the farm also commits what waits before an error leaves the driver.

What it keeps:

- files before rows: every partial file of a batch is written and fsynced before its rows
  are appended, and renamed after; a batch that fails to write or append removes all of its
  partial files and records none of its rows (no orphan file, the chain untouched);
- outcomes per request: after a failed batch each of its requests is committed again on its
  own (`commit_sealed`), so a bad row fails only its own request, and a ledger that is down
  fails each request with the ledger's one-line error;
- exactly once: a request is reported only once its rows are committed; one that never was
  (its batch failed, or the driver died first) has no row and no file, and running the batch
  again redoes exactly it (`Studio.plan` skips what the ledger holds);
- one watermark id per output: ids held by sealed, uncommitted outputs are `reserved`, so a
  batch never carries one id twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import TYPE_CHECKING

from provenance.errors import ProvenantError
from provenance.pipeline.batch import RequestOutcome, contained
from provenance.pipeline.publish import commit_sealed

if TYPE_CHECKING:
    from provenance.errors import StoreError
    from provenance.pipeline.results import GenerationResult
    from provenance.pipeline.store import StoredAsset
    from provenance.pipeline.studio import SealedRequest, Studio

#: Images per ledger transaction: of the sizes measured (64, 128), the one that kept the
#: driver at >= 1,000 recorded images a second on PostgreSQL in every run
#: (benchmarks/results/farm.json, `driver_recording`).
DEFAULT_MAX_IMAGES = 128
#: The longest a finished image waits for its batch, in seconds.
DEFAULT_MAX_WAIT_S = 0.2


@dataclass(frozen=True)
class _Waiting:
    request_id: str | None
    line_no: int | None
    sealed: SealedRequest


class BatchRecorder:
    """Holds sealed requests and commits their outputs in batches (see the module docstring)."""

    def __init__(
        self,
        studio: Studio,
        *,
        max_images: int = DEFAULT_MAX_IMAGES,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_images < 1:
            raise ValueError("max_images must be at least 1")
        self.studio = studio
        self.max_images = max_images
        self.max_wait_s = max_wait_s
        self._clock = clock
        self._waiting: list[_Waiting] = []
        self._since: float | None = None
        self.batches = 0

    # -- what waits --------------------------------------------------------------------------

    @property
    def images_waiting(self) -> int:
        """Sealed outputs whose rows are not committed yet."""
        return sum(len(w.sealed.outputs) for w in self._waiting)

    @property
    def reserved(self) -> set[int]:
        """Watermark ids carried by outputs that wait (not yet in the ledger)."""
        return {
            wid
            for w in self._waiting
            for o in w.sealed.outputs
            if (wid := o.sealed.watermark_id) is not None
        }

    def due(self) -> bool:
        """Whether the waiting outputs should be committed now (full, or waited long enough)."""
        if not self._waiting:
            return False
        return self.images_waiting >= self.max_images or self.wait_s() == 0.0

    def wait_s(self) -> float | None:
        """Seconds until the oldest waiting output is due by time (None: nothing waits)."""
        if self._since is None:
            return None
        return max(0.0, self._since + self.max_wait_s - self._clock())

    # -- adding and committing ---------------------------------------------------------------

    def add(
        self,
        request_id: str | None,
        line_no: int | None,
        seal: Callable[[Container[int]], SealedRequest],
    ) -> list[RequestOutcome]:
        """Seal one request (`seal(reserved)`, e.g. `Studio.seal`) and hold its outputs.

        Returns the outcomes now known: the request's own when it is refused or failed
        (nothing to commit), and those of a batch that became due.
        """
        sealed: list[SealedRequest] = []

        def make() -> GenerationResult:
            sealed.append(seal(self.reserved))
            return sealed[0].result

        outcome = contained(request_id, make, line_no)
        if not sealed or not sealed[0].outputs:
            return [outcome, *self.flush_if_due()]
        if self._since is None:
            self._since = self._clock()
        self._waiting.append(_Waiting(request_id, line_no, sealed[0]))
        return self.flush_if_due()

    def flush_if_due(self) -> list[RequestOutcome]:
        """`flush()` when `due()`, else nothing."""
        return self.flush() if self.due() else []

    def flush(self) -> list[RequestOutcome]:
        """Commit every waiting output in one transaction; one outcome per waiting request."""
        batch, self._waiting, self._since = self._waiting, [], None
        if not batch:
            return []
        commits = [o.sealed.commit() for w in batch for o in w.sealed.outputs]
        start = time.perf_counter()
        try:
            stored = self.studio.store.commit_many(commits)
        except ProvenantError:
            # Nothing of the batch exists (no row, no file): each request on its own, so
            # one bad row fails only its request.
            return [self._one_by_one(w) for w in batch]
        self.batches += 1
        share = (time.perf_counter() - start) * 1000 / len(commits)
        outcomes, at = [], 0
        for w in batch:
            count = len(w.sealed.outputs)
            outcomes.append(self._outcome(w, stored[at : at + count], share))
            at += count
        return outcomes

    def _outcome(
        self, w: _Waiting, stored: list[StoredAsset | StoreError], share_ms: float
    ) -> RequestOutcome:
        """A committed request's outcome; `failed` if one of its files was not renamed."""
        result = w.sealed.result
        timings = result.timings_ms
        timings["store"] = timings.get("store", 0.0) + share_ms * len(stored)
        for output, item in zip(w.sealed.outputs, stored, strict=True):
            if isinstance(item, ProvenantError):
                return RequestOutcome(
                    w.request_id, "failed", error=item.diagnostics(), line_no=w.line_no
                )
            result.images.append(output.image_result(item))
        return RequestOutcome(w.request_id, result.status, result=result, line_no=w.line_no)

    def _one_by_one(self, w: _Waiting) -> RequestOutcome:
        """Commit one request's outputs each in its own transaction (after a failed batch)."""
        result = w.sealed.result
        for output in w.sealed.outputs:
            try:
                published = commit_sealed(self.studio, output.sealed, result.timings_ms)
            except ProvenantError as exc:
                return RequestOutcome(
                    w.request_id, "failed", error=exc.diagnostics(), line_no=w.line_no
                )
            result.images.append(output.image_result(published.stored))
        return RequestOutcome(w.request_id, result.status, result=result, line_no=w.line_no)

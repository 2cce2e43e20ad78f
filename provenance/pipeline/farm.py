"""Running a batch on a Ray cluster: pixels on the workers, judging and signing on the driver.

`generate --batch FILE --executor ray` keeps one `FarmWorker` actor per GPU (or CPU slot);
each loads a model the first time it is asked for it and keeps it warm, and requests go to
an idle actor that already holds their model when there is one.

Where each stage runs, and why:

- prompt and input screening run on the driver, before dispatch (`Studio.plan`): a refused
  request costs no worker time, and its refusal row is recorded once;
- workers only turn a planned request (seed already fixed) into pixels and return them;
- output screening and signing run on the driver as each request's pixels come back
  (`Studio.seal`, the same `publish` path as the local executor); the signed outputs are
  then recorded in batches, many images to one ledger transaction
  (`provenance.pipeline.recorder.BatchRecorder`), since one commit per image would cap the
  driver far below what the workers deliver.  The signing key never leaves the configured
  signer on the driver's machine, a worker holds no key and no database connection, and a
  worker that dies cannot leave a signed file or a row behind.

Exactly once per request id: a request whose actor dies mid-call is sent again, with the
same planned request (same seed), to another actor (a replacement is started so the pool
keeps its size); since files and rows are only written on the driver after the pixels came
back, nothing of the lost attempt exists.  A request is reported only once its batch is
committed; a driver that dies is resumed by running the batch again: `Studio.plan` skips
every image the ledger already holds, and what was only sealed (no row, no file) is redone.

Ray is imported only here, and only when this executor runs (`pip install provenant[farm]`).
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance.errors import BadInputError, PolicyBlocked, ProvenantError
from provenance.pipeline.batch import BatchSummary, RequestOutcome
from provenance.pipeline.recorder import DEFAULT_MAX_IMAGES, DEFAULT_MAX_WAIT_S, BatchRecorder
from provenance.pipeline.requests import BatchLine
from provenance.pipeline.results import GenerationResult
from provenance.pipeline.studio import Planned, Studio
from provenance.verdict import Verdict

if TYPE_CHECKING:
    from provenance.config import Settings
    from provenance.types import GeneratedImage, GenerationRequest

#: How often one request is sent again after its actor died, before it counts as failed.
MAX_ATTEMPTS = 3


class FarmWorker:
    """One slot of the farm: generators constructed once per (name, model) and kept warm.

    Holds settings only (no signer, no ledger): it returns pixels, never files.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._generators: dict[tuple[str, str | None], Any] = {}

    def pid(self) -> int:
        """The worker process id (tests kill it to check retries)."""
        import os

        return os.getpid()

    def generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        """The images of a planned request (its seed is fixed: a retry makes the same ones)."""
        from provenance.plugins import get_generator

        key = (request.generator, request.model)
        if key not in self._generators:
            cls = get_generator(request.generator)
            options = self.settings.generators.options_for(request.generator)
            self._generators[key] = cls(request.model, options, self.settings)
        return list(self._generators[key].generate(request))


@dataclass(frozen=True)
class FarmOptions:
    """Where and how wide the farm runs (`--address`, `--gpus-per-worker`, `--workers`).

    `record_batch` and `record_wait_s` bound how many finished images wait for their ledger
    transaction and for how long (`BatchRecorder`); `record_batch=1` records each image
    on its own, as the local executor does.
    """

    address: str | None = None
    gpus_per_worker: float = 0.0
    workers: int | None = None
    record_batch: int = DEFAULT_MAX_IMAGES
    record_wait_s: float = DEFAULT_MAX_WAIT_S


@dataclass
class _Job:
    line: BatchLine
    planned: Planned
    attempts: int = 0

    @property
    def model_key(self) -> tuple[str, str | None]:
        request = self.planned.request
        return (request.generator, request.model)


@dataclass
class _Slot:
    actor: Any
    loaded: set[tuple[str, str | None]] = field(default_factory=set)
    busy: bool = False


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise BadInputError("--executor ray needs Ray: pip install 'provenant[farm]'") from exc
    return ray


def connect(options: FarmOptions) -> bool:
    """Join the cluster at `options.address` (or start a local one); True if we started it."""
    ray = _ray()
    if ray.is_initialized():
        return False
    try:
        if options.address:
            ray.init(address=options.address, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(include_dashboard=False, log_to_driver=False)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
        where = options.address or "a local instance"
        raise BadInputError(f"cannot reach the Ray cluster at {where}: {exc}") from exc
    return True


def pool_size(options: FarmOptions) -> int:
    """Workers to start: as asked, else one per GPU (by `gpus_per_worker`) or per CPU slot."""
    if options.workers is not None and options.workers < 1:
        raise BadInputError("--workers must be at least 1")
    resources = _ray().cluster_resources()
    gpus = float(resources.get("GPU", 0))
    if options.gpus_per_worker > 0:
        # An actor asking for GPUs the cluster lacks would wait forever: refuse up front.
        fits = int(gpus // options.gpus_per_worker)
        wanted = options.workers or max(fits, 1)
        if wanted > fits:
            raise BadInputError(
                f"{wanted} workers x {options.gpus_per_worker:g} GPUs need more than the "
                f"cluster's {gpus:g} GPUs"
            )
        return wanted
    return options.workers or max(1, int(resources.get("CPU", 1)))


class Farm:
    """The actor pool of one batch run, and the scheduler that feeds it."""

    def __init__(self, studio: Studio, options: FarmOptions) -> None:
        self.studio = studio
        self.options = options
        self._started = connect(options)
        ray = _ray()
        self._remote = ray.remote(FarmWorker).options(
            num_cpus=1, num_gpus=options.gpus_per_worker, max_restarts=0
        )
        self.slots = [self._new_slot() for _ in range(pool_size(options))]

    def _new_slot(self) -> _Slot:
        return _Slot(self._remote.remote(self.studio.settings))

    def close(self) -> None:
        """Stop the actors (and the local Ray instance when this run started it)."""
        ray = _ray()
        for slot in self.slots:
            ray.kill(slot.actor)
        if self._started:
            ray.shutdown()

    def run(
        self,
        lines: Iterable[BatchLine],
        out_dir: Path,
        on_outcome: Callable[[RequestOutcome], None] | None = None,
        on_dispatch: Callable[[Any, str], None] | None = None,
    ) -> BatchSummary:
        """Run every line; outcomes are reported as they finish and summarised in input order.

        `on_dispatch(actor, request_id)` is called after each call is sent (tests kill the
        actor there).
        """
        summary = BatchSummary()
        recorder = BatchRecorder(
            self.studio, max_images=self.options.record_batch, max_wait_s=self.options.record_wait_s
        )

        def report(*outcomes: RequestOutcome) -> None:
            for outcome in outcomes:
                summary.outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)

        try:
            self._schedule(lines, out_dir, recorder, report, on_dispatch)
            report(*recorder.flush())
        except BaseException:
            # Finished work is recorded before the error leaves (what was committed is
            # skipped on resume); a flush that fails too leaves nothing (see `recorder`).
            with contextlib.suppress(Exception):
                recorder.flush()
            raise
        summary.outcomes.sort(key=lambda o: o.line_no or 0)
        return summary

    def _schedule(
        self,
        lines: Iterable[BatchLine],
        out_dir: Path,
        recorder: BatchRecorder,
        report: Callable[..., None],
        on_dispatch: Callable[[Any, str], None] | None,
    ) -> None:
        """Plan, dispatch and collect until every line is done; outputs go to `recorder`."""
        ray = _ray()
        todo = deque(lines)
        ready: deque[_Job] = deque()
        in_flight: dict[Any, tuple[_Slot, _Job]] = {}
        while todo or ready or in_flight:
            # Plan (screen on the driver) only as far ahead as there are idle slots.
            idle = [s for s in self.slots if not s.busy]
            while todo and len(ready) < len(idle):
                job = self._plan(todo.popleft(), out_dir, report)
                if job is not None:
                    ready.append(job)
            for slot in idle:
                if not ready:
                    break
                job = _take_for(slot, ready)
                job.attempts += 1
                ref = slot.actor.generate.remote(job.planned.request)
                slot.busy = True
                slot.loaded.add(job.model_key)
                in_flight[ref] = (slot, job)
                if on_dispatch is not None:
                    on_dispatch(slot.actor, job.planned.request.request_id)
            if not in_flight:
                continue
            # Wait no longer than the oldest finished image may wait for its batch.
            done, _ = ray.wait(list(in_flight), num_returns=1, timeout=recorder.wait_s())
            if not done:
                report(*recorder.flush_if_due())
                continue
            slot, job = in_flight.pop(done[0])
            slot.busy = False
            try:
                images = ray.get(done[0])
            except ray.exceptions.RayActorError:
                self._replace(slot)
                if job.attempts < MAX_ATTEMPTS:
                    ready.appendleft(job)
                else:
                    error = f"worker lost {job.attempts} times; not generated"
                    report(_outcome(job.line, "failed", error=error))
                continue
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause
                text = cause.diagnostics() if isinstance(cause, ProvenantError) else str(cause)
                report(_outcome(job.line, "failed", error=text))
                continue
            report(*self._finish(job, images, out_dir, recorder))

    def _replace(self, dead: _Slot) -> None:
        """A fresh actor in a lost one's place (the old one is killed: it may only be cut off)."""
        _ray().kill(dead.actor)
        index = self.slots.index(dead)
        self.slots[index] = self._new_slot()

    def _plan(
        self, line: BatchLine, out_dir: Path, report: Callable[[RequestOutcome], None]
    ) -> _Job | None:
        """A job to dispatch, or None when the line's outcome is already known (reported)."""
        if line.request is None:
            report(_outcome(line, "failed", error=line.error))
            return None
        try:
            planned = self.studio.plan(line.request, out_dir)
        except PolicyBlocked as exc:
            verdict = exc.verdict if isinstance(exc.verdict, Verdict) else None
            report(_outcome(line, "blocked", verdict=verdict))
            return None
        except ProvenantError as exc:
            report(_outcome(line, "failed", error=exc.diagnostics()))
            return None
        if isinstance(planned, GenerationResult):
            report(_outcome(line, planned.status, result=planned))
            return None
        return _Job(line, planned)

    def _finish(
        self, job: _Job, images: list[GeneratedImage], out_dir: Path, recorder: BatchRecorder
    ) -> list[RequestOutcome]:
        """Seal the pixels on the driver; the recorder commits them with the next batch."""
        seal = functools.partial(self.studio.seal, job.planned, images, out_dir)
        return recorder.add(job.line.request_id, job.line.line_no, seal)


def _take_for(slot: _Slot, ready: deque[_Job]) -> _Job:
    """The first ready job whose model this slot already holds, else the oldest one."""
    for job in ready:
        if job.model_key in slot.loaded:
            ready.remove(job)
            return job
    return ready.popleft()


def _outcome(line: BatchLine, outcome: Any, **kwargs: Any) -> RequestOutcome:
    return RequestOutcome(line.request_id, outcome, line_no=line.line_no, **kwargs)


def run_farm_batch(
    studio: Studio,
    lines: Iterable[BatchLine],
    out_dir: Path,
    options: FarmOptions,
    on_outcome: Callable[[RequestOutcome], None] | None = None,
    on_dispatch: Callable[[Any, str], None] | None = None,
) -> BatchSummary:
    """`run_batch` on a Ray cluster (see the module docstring)."""
    farm = Farm(studio, options)
    try:
        return farm.run(lines, out_dir, on_outcome, on_dispatch)
    finally:
        farm.close()


def images_per_second(images: int, started: float) -> float:
    """Recorded images per second since `started` (a `time.perf_counter()` value)."""
    elapsed = time.perf_counter() - started
    return images / elapsed if elapsed > 0 else 0.0

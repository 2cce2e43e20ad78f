"""Runs checks on hostile files in worker processes, with a time limit per file.

Each worker is a fresh (spawned) Python process with an address-space limit, so a
decompression bomb that got past the size checks fails there instead of exhausting the
machine.  The parent hands out one file at a time and keeps a deadline for it:

* a check still running after `check_timeout` is interrupted in the worker (SIGALRM) and
  counts as a hang; a worker that does not answer by the file's deadline is killed and
  the file counts as a hang too (native code that never returns to Python);
* a worker that dies (a native crash) costs only its current file, recorded as a crash;
  a new worker takes over;
* anything raised by a check other than what the command would turn into a one-line
  message is recorded as a crash, with the exception's type and message.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import resource
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

ACCEPTED, REJECTED, CRASH, HANG = "accepted", "rejected", "crash", "hang"
#: Address-space cap of a worker (a worker without it would let a bomb take the machine).
WORKER_MEMORY_LIMIT = 6 * 1024**3


@dataclass(frozen=True)
class Task:
    """One unit of work: checks on one file, or one CLI invocation over several files."""

    key: str
    family: str
    paths: tuple[Path, ...]
    checks: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    """What one check did with one task."""

    key: str
    family: str
    check: str
    status: str
    detail: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _CheckTimeout(BaseException):
    """Raised by SIGALRM inside a check (a BaseException: library code cannot swallow it)."""


def _on_alarm(_signum: int, _frame: object) -> None:
    raise _CheckTimeout()


def _worker(conn: Connection, home: str, scratch: str, check_timeout: float) -> None:
    """Worker loop: receive a Task, run its checks, send the outcomes and peak memory."""
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_LIMIT, WORKER_MEMORY_LIMIT))
    signal.signal(signal.SIGALRM, _on_alarm)
    logging.disable(logging.WARNING)  # "layer disabled" notices, once per worker: noise here
    from tests.hardening.checks import IN_PROCESS_CHECKS, CheckContext, run_cli

    ctx = CheckContext(Path(home), Path(scratch))
    while True:
        task: Task | None = conn.recv()
        if task is None:
            ctx.close()
            return
        outcomes, hung = [], False
        for check in task.checks:
            limit = check_timeout * len(task.paths)
            start = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, limit)
            try:
                if check in IN_PROCESS_CHECKS:
                    status, detail = IN_PROCESS_CHECKS[check](ctx, task.paths[0])
                else:
                    status, detail = run_cli(
                        check, Path(home), Path(scratch) / "cli-out", task.paths
                    )
            except _CheckTimeout:
                status, detail, hung = HANG, f"still running after {limit:.0f}s", True
            except BaseException as exc:  # the point of the runner: nothing may escape
                status, detail = CRASH, _describe(exc)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            elapsed = time.perf_counter() - start
            outcomes.append(Outcome(task.key, task.family, check, status, detail, elapsed))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        conn.send((outcomes, peak))
        if hung:  # state inside an interrupted library call is not to be trusted
            return


def _describe(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}{where}"


@dataclass
class _Slot:
    process: Any
    conn: Connection
    task: Task | None = None
    deadline: float = 0.0


@dataclass
class RunStats:
    """Totals over a run: outcomes, peak worker memory, workers replaced."""

    outcomes: list[Outcome] = field(default_factory=list)
    peak_rss: int = 0
    restarts: int = 0

    def count(self, status: str, checks: Sequence[str] | None = None) -> int:
        return sum(
            1 for o in self.outcomes if o.status == status and (checks is None or o.check in checks)
        )

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status in (CRASH, HANG)]


class WorkerPool:
    """`workers` processes running `Task`s against one data dir (see module docstring)."""

    def __init__(
        self,
        home: Path,
        scratch: Path,
        *,
        workers: int = 2,
        check_timeout: float = 30.0,
        grace: float = 30.0,
    ) -> None:
        self.home, self.scratch = home, scratch
        self.check_timeout, self.grace = check_timeout, grace
        self._ctx = multiprocessing.get_context("spawn")
        self._slots = [self._start(i) for i in range(workers)]

    def _start(self, number: int) -> _Slot:
        parent, child = self._ctx.Pipe()
        scratch = self.scratch / f"worker-{number}-{time.monotonic_ns()}"
        process = self._ctx.Process(
            target=_worker,
            args=(child, str(self.home), str(scratch), self.check_timeout),
            daemon=True,
        )
        process.start()
        child.close()
        return _Slot(process, parent)

    def run(
        self, tasks: Sequence[Task], on_outcome: Callable[[Outcome], None] | None = None
    ) -> RunStats:
        """Run every task; returns all outcomes (order of completion)."""
        stats = RunStats()
        todo = list(reversed(tasks))
        while todo or any(s.task for s in self._slots):
            for slot in self._slots:
                if slot.task is None and todo:
                    slot.task = todo.pop()
                    checks = len(slot.task.checks) * len(slot.task.paths)
                    slot.deadline = time.monotonic() + checks * self.check_timeout + self.grace
                    slot.conn.send(slot.task)
            busy = [s for s in self._slots if s.task is not None]
            timeout = max(0.0, min(s.deadline for s in busy) - time.monotonic())
            ready = wait([s.conn for s in busy], timeout=timeout)
            for index, slot in enumerate(self._slots):
                if slot.task is None:
                    continue
                if slot.conn in ready:
                    self._collect(index, slot, stats, on_outcome)
                elif time.monotonic() > slot.deadline:
                    self._replace(index, slot, stats, HANG, "no answer by the deadline", on_outcome)
        return stats

    def _collect(
        self, index: int, slot: _Slot, stats: RunStats, on_outcome: Callable[[Outcome], None] | None
    ) -> None:
        try:
            outcomes, peak = slot.conn.recv()
        except (EOFError, OSError):
            slot.process.join(5)
            detail = f"worker died (exit code {slot.process.exitcode})"
            self._replace(index, slot, stats, CRASH, detail, on_outcome)
            return
        stats.peak_rss = max(stats.peak_rss, peak)
        self._record(stats, outcomes, on_outcome)
        slot.task = None
        if any(o.status == HANG for o in outcomes):
            slot.process.join(10)
            self._slots[index] = self._start(index)
            stats.restarts += 1

    def _replace(
        self,
        index: int,
        slot: _Slot,
        stats: RunStats,
        status: str,
        detail: str,
        on_outcome: Callable[[Outcome], None] | None,
    ) -> None:
        task = slot.task
        assert task is not None
        if slot.process.is_alive():
            slot.process.kill()
        slot.process.join(10)
        outcomes = [Outcome(task.key, task.family, c, status, detail, 0.0) for c in task.checks]
        self._record(stats, outcomes, on_outcome)
        self._slots[index] = self._start(index)
        stats.restarts += 1

    @staticmethod
    def _record(
        stats: RunStats, outcomes: list[Outcome], on_outcome: Callable[[Outcome], None] | None
    ) -> None:
        stats.outcomes.extend(outcomes)
        if on_outcome is not None:
            for outcome in outcomes:
                on_outcome(outcome)

    def close(self) -> None:
        for slot in self._slots:
            with contextlib.suppress(OSError):
                slot.conn.send(None)
        for slot in self._slots:
            slot.process.join(20)
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join(5)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

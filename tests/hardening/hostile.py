"""The hostile-file run: build a studio, write the corpus, run every check, count.

Shared by `tests/hardening/test_hostile_files.py` and `benchmarks/robustness_report.py`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.hardening.checks import CLI, IN_PROCESS
from tests.hardening.corpus import CorpusFile, write_corpus
from tests.hardening.runner import (
    ACCEPTED,
    CRASH,
    HANG,
    REJECTED,
    Outcome,
    RunStats,
    Task,
    WorkerPool,
)
from tests.hardening.seeds import (
    SigningKit,
    crafted_seeds,
    image_bytes,
    plain_seeds,
    signed_seeds,
)
from tests.hardening.studio_home import IMAGE_POLICIES, make_home

#: Files per `screen --image` / `sign` invocation in the CLI sample.
CLI_GROUP = 10


@dataclass
class HostileRun:
    """A prepared run: the studio data dir, the corpus on disk, and the seeds it came from."""

    root: Path
    home: Path
    files: list[CorpusFile]
    seed_names: list[str]


def prepare(root: Path, total: int = 10_000, stride: int = 1) -> HostileRun:
    """A studio data dir (image policies, one known work) and the corpus written under `root`."""
    home = make_home(root / "home", policies=IMAGE_POLICIES)
    _register_known_work(home, root / "work.png")
    kit = SigningKit.for_studio(home)  # undamaged seeds verify as trusted in this studio
    try:
        seeds = {
            **signed_seeds(kit, root / "ingredients"),
            **plain_seeds(),
            **crafted_seeds(kit),
        }
    finally:
        kit.close()
    files = write_corpus(root / "corpus", seeds, total, stride)
    return HostileRun(root, home, files, sorted(seeds))


def _register_known_work(home: Path, image: Path) -> None:
    """One registered work with a reference image, so the known-works screen has an index."""
    from typer.testing import CliRunner

    from provenance.cli import app

    image.write_bytes(image_bytes("png", 64, seed=99))
    args = ["--home", str(home), "works", "add", "--id", "W-1", "--title", "Sample Work",
            "--kind", "artwork", "--license", "all-rights-reserved", str(image)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    if result.exit_code != 0:
        raise RuntimeError(f"works add failed: {result.stderr}")


def tasks_for(run: HostileRun, cli_files: int) -> list[Task]:
    """In-process checks on every file, then CLI invocations on an even sample of them."""
    tasks = [Task(f"{f.index:05d}:{f.name}", f.family, (f.path,), IN_PROCESS) for f in run.files]
    step = max(1, len(run.files) // max(1, cli_files))
    sample = run.files[::step][:cli_files]
    for f in sample:
        key = f"{f.index:05d}:{f.name}"
        tasks.append(Task(key, f.family, (f.path,), ("cli-verify",)))
        tasks.append(Task(key, f.family, (f.path,), ("cli-works",)))
    for f in run.files:
        if f.family == "crafted":
            key = f"{f.index:05d}:{f.name}"
            tasks.append(Task(key, f.family, (f.path,), ("cli-verify-views",)))
    for start in range(0, len(sample), CLI_GROUP):
        group = sample[start : start + CLI_GROUP]
        key = f"group{start // CLI_GROUP}:{len(group)} files"
        paths = tuple(f.path for f in group)
        tasks.append(Task(key, "cli-group", paths, ("cli-screen",)))
        tasks.append(Task(key, "cli-group", paths, ("cli-sign",)))
    return tasks


def run_checks(
    run: HostileRun,
    tasks: list[Task],
    *,
    workers: int = 2,
    check_timeout: float = 60.0,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> tuple[RunStats, float]:
    """Run `tasks` in a worker pool; returns the stats and the wall time.

    A hang is a check that does not return at all; 60 s per check leaves room for the
    corpus's 64-megapixel images on a 2-core machine that also runs the rest of the suite."""
    start = time.perf_counter()
    with WorkerPool(
        run.home, run.root / "scratch", workers=workers, check_timeout=check_timeout
    ) as pool:
        stats = pool.run(tasks, on_outcome)
    return stats, time.perf_counter() - start


def summary(run: HostileRun, tasks: list[Task], stats: RunStats, seconds: float) -> dict[str, Any]:
    """The counts the robustness report prints (and the tests assert on)."""
    per_check = {
        check: {
            status: stats.count(status, (check,)) for status in (ACCEPTED, REJECTED, CRASH, HANG)
        }
        for check in (*IN_PROCESS, *CLI)
    }
    cli_invocations = sum(1 for t in tasks if set(t.checks) & set(CLI))
    slowest = max(
        (o for o in stats.outcomes if o.check in IN_PROCESS), key=lambda o: o.seconds, default=None
    )
    return {
        "inputs": len(run.files),
        "families": dict(Counter(f.family for f in run.files)),
        "seeds": run.seed_names,
        "check_runs": len(stats.outcomes),
        "cli_invocations": cli_invocations,
        "crashes": stats.count(CRASH),
        "hangs": stats.count(HANG),
        "per_check": per_check,
        "peak_worker_rss_mib": round(stats.peak_rss / 1024**2, 1),
        "worker_memory_limit_mib": 6 * 1024,
        "slowest_check": (
            {"key": slowest.key, "check": slowest.check, "seconds": round(slowest.seconds, 2)}
            if slowest
            else None
        ),
        "failures": [o.as_dict() for o in stats.failures()[:50]],
        "seconds": round(seconds, 1),
    }

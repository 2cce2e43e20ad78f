"""`provenant generate --batch` killed with SIGKILL at random points, then resumed.

Each kill costs a Python and torch start, so the fast run kills three batches and the slow
run twenty or more.  After every kill: no signed file without its ledger row (partial files
of interrupted commits only).  After the resume: reconcile finds nothing, each request has
exactly its images (or its one refusal), the chain verifies.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from tests.hardening import killruns


@pytest.fixture(scope="module")
def kill_studio(
    tiny_models: Any, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, float]:
    """A data dir with the tiny GAN, and how long one whole batch takes there."""
    root = tmp_path_factory.mktemp("kills")
    home = killruns.make_studio(root, Path(tiny_models.gan))
    seconds, problems = killruns.calibrate(home, root)
    assert problems == []
    return home, root, seconds


def _kill_and_resume(
    kill_studio: tuple[Path, Path, float], kills: int, seed: int
) -> dict[str, Any]:
    home, root, typical = kill_studio
    rng = random.Random(seed)
    scenarios: list[killruns.Scenario] = []
    attempts = 0
    while sum(s.killed for s in scenarios) < kills and attempts < kills * 2:
        attempts += 1
        scenarios.append(killruns.scenario(home, root, f"s{seed}-{attempts}", rng, typical))
    summary = killruns.summarise(scenarios)
    assert summary["problems"] == []
    assert summary["killed"] >= kills and summary["survived"] == summary["killed"]
    return summary


def test_killed_batches_resume_exactly_once(kill_studio: tuple[Path, Path, float]) -> None:
    _kill_and_resume(kill_studio, kills=3, seed=7)


@pytest.mark.slow
def test_twenty_kills_at_random_points(kill_studio: tuple[Path, Path, float]) -> None:
    summary = _kill_and_resume(kill_studio, kills=20, seed=2026)
    assert summary["killed_mid_batch"] >= 5  # the kills land inside batches, not only at start

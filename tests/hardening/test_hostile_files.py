"""`verify`, `screen --image`, `works add` and `sign` survive hostile files.

Every corpus file goes through all four commands' library paths in worker processes with a
per-check time limit and an address-space cap; a sample also goes through the real CLI.
Zero crashes (anything the CLI would print as a traceback, or a dead worker), zero hangs,
and every refusal carries a one-line reason.  The fast run takes an even slice of every
family; the slow run takes the whole corpus (10,000 files).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from tests.hardening import hostile
from tests.hardening.checks import IN_PROCESS
from tests.hardening.runner import ACCEPTED, CRASH, HANG, REJECTED, Task, WorkerPool

FULL_CORPUS = 10_000
#: Peak resident memory a worker may reach (the largest image allowed is 8192 x 8192).
MEMORY_BUDGET_MIB = 2048


def _assert_survived(
    run: hostile.HostileRun, tasks: list[Task], stats: Any, seconds: float
) -> dict[str, Any]:
    result = hostile.summary(run, tasks, stats, seconds)
    assert result["crashes"] == 0 and result["hangs"] == 0, result["failures"]
    expected_runs = sum(len(t.checks) for t in tasks)
    assert result["check_runs"] == expected_runs
    for check in IN_PROCESS:
        counts = result["per_check"][check]
        assert counts[ACCEPTED] + counts[REJECTED] == len(run.files), (check, counts)
    assert all(o.detail for o in stats.outcomes if o.status == REJECTED)
    assert result["peak_worker_rss_mib"] < MEMORY_BUDGET_MIB
    return result


def test_fast_slice_of_the_corpus_is_survived(tmp_path: Path) -> None:
    run = hostile.prepare(tmp_path, total=FULL_CORPUS, stride=30)
    tasks = hostile.tasks_for(run, cli_files=20)
    stats, seconds = hostile.run_checks(run, tasks)
    result = _assert_survived(run, tasks, stats, seconds)
    families = set(result["families"])
    assert families >= {"truncation", "magic", "png-chunk", "jpeg-segment", "webp-chunk",
                        "jumbf", "c2pa-size", "bomb", "metadata", "dimensions", "random",
                        "mutation", "crafted"}  # fmt: skip
    # The corpus is hostile, not merely broken: most files are refused, yet some still
    # decode (damage in metadata), so both paths of every command are exercised.
    verify = result["per_check"]["verify"]
    assert verify[REJECTED] > 0.9 * len(run.files)
    assert result["per_check"]["screen"][ACCEPTED] > 0
    assert result["cli_invocations"] >= 40


@pytest.mark.slow
def test_full_corpus_is_survived(tmp_path: Path) -> None:
    run = hostile.prepare(tmp_path, total=FULL_CORPUS, stride=1)
    assert len(run.files) >= FULL_CORPUS
    tasks = hostile.tasks_for(run, cli_files=150)
    stats, seconds = hostile.run_checks(run, tasks)
    result = _assert_survived(run, tasks, stats, seconds)
    assert result["cli_invocations"] >= 300


# --- the harness itself: a hang, a native crash and an escaped exception are counted ----------


def _pool(root: Path, check_timeout: float, grace: float) -> WorkerPool:
    from tests.hardening.studio_home import IMAGE_POLICIES, make_home

    home = make_home(root / "home", policies=IMAGE_POLICIES)
    return WorkerPool(home, root / "scratch", workers=2, check_timeout=check_timeout, grace=grace)


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerPool]:
    """Two workers with a short time limit, so the harness's own hang is caught quickly.

    Short, but long enough for a freshly started worker's first real check on a loaded
    machine (the test suite runs on every core at once)."""
    with _pool(tmp_path_factory.mktemp("pool"), check_timeout=10.0, grace=10.0) as workers:
        yield workers


@pytest.fixture(scope="module")
def damage_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerPool]:
    """Two workers with the corpus runs' time limit (a cold worker loads every policy first)."""
    with _pool(tmp_path_factory.mktemp("damage"), check_timeout=30.0, grace=30.0) as workers:
        yield workers


def test_the_harness_counts_hangs_crashes_and_escapes(pool: WorkerPool, tmp_path: Path) -> None:
    target = tmp_path / "x.img"
    target.write_bytes(b"not an image")
    stats = pool.run(
        [
            Task("sleep", "harness", (target,), ("harness-sleep",)),
            Task("abort", "harness", (target,), ("harness-abort",)),
            Task("raise", "harness", (target,), ("harness-raise",)),
            Task("after", "harness", (target,), ("verify",)),
        ]
    )
    status = {o.key: (o.status, o.detail) for o in stats.outcomes}
    assert status["sleep"][0] == HANG
    assert status["abort"][0] == CRASH and "worker died" in status["abort"][1]
    assert status["raise"][0] == CRASH and "KeyError" in status["raise"][1]
    assert status["after"] == (REJECTED, status["after"][1])  # replaced workers carry on
    assert "not a PNG, JPEG or WebP" in status["after"][1]
    assert stats.restarts >= 2


# --- hypothesis: random damage to signed seeds, each example through all four commands -------


@pytest.fixture(scope="module")
def signed_seed_files(damage_pool: WorkerPool) -> dict[str, bytes]:
    """Signed seeds (each format, and one with ingredients), signed by the pool's studio."""
    from tests.hardening.seeds import SigningKit, signed_seeds

    kit = SigningKit.for_studio(damage_pool.home)
    try:
        return signed_seeds(kit, damage_pool.scratch / "ingredients")
    finally:
        kit.close()


_EDIT = st.tuples(
    st.sampled_from(["flip", "set", "insert", "delete", "truncate"]),
    st.floats(0.0, 1.0, allow_nan=False),
    st.integers(0, 255),
)


def _damage(data: bytes, edits: list[tuple[str, float, int]]) -> bytes:
    raw = bytearray(data)
    for op, where, value in edits:
        at = min(len(raw) - 1, int(where * len(raw))) if raw else 0
        if op == "flip" and raw:
            raw[at] ^= 1 << (value % 8)
        elif op == "set" and raw:
            raw[at] = value
        elif op == "insert":
            raw[at:at] = bytes([value]) * (1 + value % 16)
        elif op == "delete":
            del raw[at : at + 1 + value % 64]
        elif op == "truncate":
            del raw[at:]
    return bytes(raw)


def _hypothesis_case(pool: WorkerPool, seeds: dict[str, bytes], name: str, edits: Any) -> None:
    path = pool.scratch / "hypothesis.img"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_damage(seeds[name], edits))
    stats = pool.run([Task("hypothesis", name, (path,), IN_PROCESS)])
    assert not stats.failures(), stats.failures()
    assert {o.status for o in stats.outcomes} <= {ACCEPTED, REJECTED}


_SEED_NAMES = ["signed-png", "signed-jpeg", "signed-webp", "signed-png-ingredients"]


@hypothesis.settings(
    max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
@given(name=st.sampled_from(_SEED_NAMES), edits=st.lists(_EDIT, min_size=1, max_size=6))
def test_random_damage_is_survived(
    damage_pool: WorkerPool, signed_seed_files: dict[str, bytes], name: str, edits: Any
) -> None:
    _hypothesis_case(damage_pool, signed_seed_files, name, edits)


@pytest.mark.slow
@hypothesis.settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.sampled_from(_SEED_NAMES), edits=st.lists(_EDIT, min_size=1, max_size=12))
def test_random_damage_is_survived_at_length(
    damage_pool: WorkerPool, signed_seed_files: dict[str, bytes], name: str, edits: Any
) -> None:
    _hypothesis_case(damage_pool, signed_seed_files, name, edits)


# --- validly signed files with odd shapes under our assertion labels ---------------------------


def test_odd_shapes_under_our_labels_are_reported_in_every_view(
    signing_kit: Any, tmp_path: Path
) -> None:
    """A signer may put any JSON under `org.provenant.*`; verify must still report, not crash."""
    from typer.testing import CliRunner

    from provenance.cli import app
    from provenance.verify.verifier import State
    from tests.hardening.checks import VERIFY_VIEWS
    from tests.hardening.seeds import ODD_ASSERTIONS, crafted_seeds

    files = []
    for name, data in crafted_seeds(signing_kit).items():
        path = tmp_path / f"{name}.img"
        path.write_bytes(data)
        files.append(path)
        report = signing_kit.verifier().verify_file(path)
        assert report.state is State.TRUSTED, report.reason  # odd, but validly signed
        assert all(isinstance(w, dict) for w in report.attributions)
        assert report.model is None or isinstance(report.model, dict)
        assert report.generator is None or isinstance(report.generator, str)
        assert report.seed is None or isinstance(report.seed, int)
    assert len(files) == len(ODD_ASSERTIONS)
    anchors = str(signing_kit.home / "keys" / "dev-root-ca.pem")
    for view in VERIFY_VIEWS:
        args = ["--home", str(tmp_path / "h"), "verify", "--trust-anchors", anchors, *view]
        result = CliRunner().invoke(app, [*args, *map(str, files)])
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            view,
            repr(result.exception),
        )
        assert result.exit_code == 0, (view, result.stderr)

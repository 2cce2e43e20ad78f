"""Whole `provenant generate` processes writing into one ledger at once.

`tests/integration/ledger/test_concurrency.py` covers raw ledger appends from many writers;
this runs the real command, eight processes at a time, on PostgreSQL and on SQLite (where
writers wait for the lock; none may fail).  The fast run starts three processes per engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.hardening.concurrent import REQUESTS_PER_PROCESS, run_concurrently
from tests.hardening.studio_home import make_home


def _studio(tmp_path: Path, tiny_models: Any, database_url: str | None) -> Path:
    return make_home(tmp_path / "home", gan_model=Path(tiny_models.gan), database_url=database_url)


def _assert_all_recorded(result: Any) -> None:
    processes = result.processes
    assert result.exit_codes == [3] * processes, result.explain()  # 3: the refused request
    assert result.failed_lines == []
    assert result.assets == processes * REQUESTS_PER_PROCESS
    assert result.refusals == processes
    assert result.chain_ok and result.chain_entries == processes * (REQUESTS_PER_PROCESS + 1)
    assert result.reconcile_findings == []


@pytest.mark.parametrize("processes", [3, pytest.param(8, marks=pytest.mark.slow)])
@pytest.mark.parametrize(
    "engine", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_processes_into_one_ledger(
    processes: int,
    engine: str,
    tmp_path: Path,
    tiny_models: Any,
    request: pytest.FixtureRequest,
) -> None:
    url = request.getfixturevalue("postgres_url") if engine == "postgresql" else None
    home = _studio(tmp_path, tiny_models, url)
    _assert_all_recorded(run_concurrently(home, tmp_path, processes))

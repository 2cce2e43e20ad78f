"""Hardening tests: hostile files, tampering, ledger edits, crashes, concurrency, keys, injection.

The helpers live in this folder as importable modules (`tests.hardening.corpus`, `.tamper`,
`.ledger_edits`, `.killruns`, ...) so that `benchmarks/robustness_report.py` measures with
exactly the code the tests run.  Long runs carry `@pytest.mark.slow`; CI runs them too.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # `tests.hardening.*` importable (also in spawned workers)


@pytest.fixture(scope="session")
def signing_kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A development CA and a signer on it (`tests.hardening.seeds.SigningKit`)."""
    from tests.hardening.seeds import SigningKit

    kit = SigningKit.create(tmp_path_factory.mktemp("kit") / "home")
    try:
        yield kit
    finally:
        kit.close()

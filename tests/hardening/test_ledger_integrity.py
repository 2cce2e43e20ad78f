"""A 1,000-entry ledger: any single edit, deletion, insertion or reordering is detected and
the first bad row named; a signed checkpoint catches a ledger cut short or rewritten.

`tests/integration/ledger/test_tamper.py` edits every column once on a six-entry ledger;
this sweep does it on sampled rows across 1,000 entries (first and last always included),
and `audit verify-chain` (the command auditors run) is held to the same answers.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from provenance.cli import app
from provenance.ledger import Ledger
from tests.hardening import ledger_edits as L
from tests.hardening.studio_home import make_home, settings_for
from tests.integration.ledger.samples import sample_asset

ENTRIES = 1_000


def _sweep(url: str, rows_per_column: int) -> L.SweepResult:
    ledger = L.build(url, ENTRIES)
    raw = L.Raw(url)
    try:
        covered = {(c.table, c.column) for c in L.cases(raw, rows_per_column) if c.op == "edit"}
        every_column = {
            (name, col.name) for name, table in L.CHAINED.items() for col in table.columns
        }
        assert covered == every_column  # every column of every table the chain covers
        return L.sweep(ledger, raw, rows_per_column)
    finally:
        raw.close()
        ledger.close()


def _assert_all_detected_and_named(result: L.SweepResult, at_least: int) -> None:
    summary = result.as_dict()
    assert summary["edits"] >= at_least
    assert not result.missed, result.missed
    assert not result.misnamed, result.misnamed
    assert summary["detected"] == summary["named"] == summary["edits"]
    ops = {key.split()[0] for key in result.total}
    assert ops == {"edit", "delete", "insert", "reorder"}


def test_single_edits_of_a_1000_entry_ledger_are_detected_and_named(tmp_path: Path) -> None:
    result = _sweep(f"sqlite:///{tmp_path / 'ledger.db'}", rows_per_column=1)
    _assert_all_detected_and_named(result, at_least=150)


@pytest.mark.slow
def test_the_wide_sweep_on_sqlite(tmp_path: Path) -> None:
    result = _sweep(f"sqlite:///{tmp_path / 'ledger.db'}", rows_per_column=12)
    _assert_all_detected_and_named(result, at_least=950)


@pytest.mark.slow
@pytest.mark.postgres
def test_the_sweep_on_postgresql(postgres_url: str) -> None:
    result = _sweep(postgres_url, rows_per_column=3)
    _assert_all_detected_and_named(result, at_least=240)


# --- the CLI: audit verify-chain names the row; checkpoints catch truncation ----------------


@pytest.fixture(scope="module")
def studio_with_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir whose ledger holds 1,000 entries and a signed checkpoint of them."""
    root = tmp_path_factory.mktemp("ledger-cli")
    home = make_home(root / "home")
    L.build(settings_for(home).database_url, ENTRIES).close()
    code, out, err = _cli(
        home, "audit", "checkpoint", "--out", str(root / "checkpoint.txt"), "--json"
    )
    assert code == 0, err
    assert json.loads(out)["tree_size"] == ENTRIES
    return root


@pytest.fixture
def studio(studio_with_ledger: Path, tmp_path: Path) -> Iterator[Path]:
    """A fresh copy of that data dir for one test (edits never leak between tests)."""
    home = tmp_path / "home"
    shutil.copytree(studio_with_ledger / "home", home)
    yield home


def _cli(home: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["--home", str(home), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_verify_chain_names_the_edited_row(studio: Path) -> None:
    url = settings_for(studio).database_url
    ledger, raw = Ledger.from_url(url), L.Raw(url)
    try:
        picked: dict[str, L.Case] = {}
        for case in L.cases(raw, rows_per_column=1, seed=3):
            picked.setdefault(f"{case.op} {case.table}", case)
        for label, case in picked.items():
            case.apply(raw)
            try:
                code, out, _ = _cli(studio, "audit", "verify-chain", "--json")
                human_code, _, human_err = _cli(studio, "audit", "verify-chain")
            finally:
                case.undo(raw)
            bad = json.loads(out)["chain"]["first_bad"]
            assert (code, human_code) == (4, 4), label
            assert bad["seq"] in case.expect_seq, (label, bad)
            assert f"chain broken at seq {bad['seq']} " in human_err, (label, human_err)
        assert len(picked) >= 12
        assert _cli(studio, "audit", "verify-chain")[0] == 0
    finally:
        raw.close()
        ledger.close()


def _cut_tail(url: str, keep: int, fix_head: bool = True) -> None:
    """Delete every entry after `keep` (children too); optionally repoint the head at `keep`."""
    raw = L.Raw(url)
    try:
        for kind, table in L.PARENT_TABLES.items():
            ids = [r[L.OWNER[kind]] for r in raw.rows(table, table.c.seq > keep)]
            for child in L.CHILD_TABLES.values():
                if L.OWNER[kind] in child.c:
                    raw.run(sa.delete(child).where(child.c[L.OWNER[kind]].in_(ids)))
            raw.run(sa.delete(table).where(table.c.seq > keep))
        if fix_head:
            last = [
                r["row_hash"]
                for t in L.PARENT_TABLES.values()
                for r in raw.rows(t, t.c.seq == keep)
            ]
            raw.run(
                sa.text("UPDATE ledger_head SET seq = :s, head_hash = :h"),
                {"s": keep, "h": (last or ["0" * 64])[0]},
            )
    finally:
        raw.close()


def _checkpoint_problem(studio: Path, checkpoint: Path) -> tuple[int, dict[str, Any], str]:
    code, out, _ = _cli(studio, "audit", "verify-chain", "--checkpoint", str(checkpoint), "--json")
    result = json.loads(out)
    human_code, _, err = _cli(studio, "audit", "verify-chain", "--checkpoint", str(checkpoint))
    assert human_code == code
    return code, result, err


@pytest.mark.parametrize("keep", [999, 990, 500, 1, 0])
def test_a_shorter_ledger_than_the_checkpoint_is_detected(
    studio: Path, studio_with_ledger: Path, keep: int
) -> None:
    _cut_tail(settings_for(studio).database_url, keep)
    code, result, err = _checkpoint_problem(studio, studio_with_ledger / "checkpoint.txt")
    assert result["chain"]["ok"]  # the cut was tidy: the chain itself still verifies...
    assert code == 4 and result["checkpoint"]["reason"] == "ledger truncated"  # ...but not this
    assert f"only {keep}" in result["checkpoint"]["detail"] and "ledger truncated" in err


def test_an_untidy_cut_breaks_the_chain_as_well(studio: Path, studio_with_ledger: Path) -> None:
    _cut_tail(settings_for(studio).database_url, 900, fix_head=False)
    code, result, _ = _checkpoint_problem(studio, studio_with_ledger / "checkpoint.txt")
    assert code == 4 and not result["chain"]["ok"]
    assert result["chain"]["first_bad"]["reason"] == "head mismatch"
    assert result["checkpoint"]["reason"] == "ledger truncated"


@pytest.mark.parametrize(
    ("rewrite_from", "new_size"),
    [(1, ENTRIES), (500, ENTRIES), (ENTRIES, ENTRIES), (700, 1_200), (999, 990)],
)
def test_a_ledger_rewritten_since_the_checkpoint_is_detected(
    studio: Path, studio_with_ledger: Path, rewrite_from: int, new_size: int
) -> None:
    """History replaced from `rewrite_from` on, every hash recomputed honestly."""
    url = settings_for(studio).database_url
    _cut_tail(url, rewrite_from - 1)
    ledger = Ledger.from_url(url)
    try:
        for n in range(rewrite_from, new_size + 1):
            ledger.append_asset(sample_asset(500_000 + n, prompt=f"rewritten {n}"))
    finally:
        ledger.close()
    code, result, err = _checkpoint_problem(studio, studio_with_ledger / "checkpoint.txt")
    assert result["chain"]["ok"] and code == 4
    expected = "ledger truncated" if new_size < ENTRIES else "ledger diverged"
    assert result["checkpoint"]["reason"] == expected and expected in err


def test_growth_after_the_checkpoint_is_fine(studio: Path, studio_with_ledger: Path) -> None:
    ledger = Ledger.from_url(settings_for(studio).database_url)
    try:
        for n in range(5):
            ledger.append_asset(sample_asset(700_000 + n))
    finally:
        ledger.close()
    code, result, _ = _checkpoint_problem(studio, studio_with_ledger / "checkpoint.txt")
    assert code == 0 and result["ok"] and result["checkpoint"]["ledger_size"] == ENTRIES + 5

"""Damage inside the manifest store: one report per file, never a traceback.

Signature, certificates (every field), claim and assertions of each signed seed, damaged
byte by byte and structure by structure (`tests.hardening.internals`).  The fast run takes
every 12th file; the slow run and `benchmarks/robustness_report.py` take them all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from provenance.errors import EXIT_VERIFICATION_FAILED
from tests.hardening import internals

#: Every kind of region the family must reach.
REGIONS = {
    "cose-signature", "cose-protected", "cose-unprotected", "cose-signature-value",
    "certificate", "certificate-version", "certificate-serial", "certificate-algorithm",
    "certificate-issuer", "certificate-validity", "certificate-subject", "certificate-key",
    "certificate-extensions", "certificate-outer-algorithm", "certificate-signature", "claim",
    "assertion", "box-length",
}  # fmt: skip


def _assert_one_report_each(result: dict[str, Any]) -> None:
    for run in ("in_process", "workers_2"):
        counts = result[run]
        assert counts["reports"] == result["inputs"] and counts["in_order"], counts
        assert counts["errors"] == [] and counts["multi_line_reasons"] == 0, counts
    cli = result["cli"]
    assert cli["reports"] == result["inputs"] and cli["one_per_file"], cli
    assert not cli["traceback"] and cli["exit_code"] == EXIT_VERIFICATION_FAILED, cli
    # Only bytes nobody signs may change and leave the file trusted: the COSE unprotected
    # header (its padding) and the bytes of the COSE structure that hold it.
    for name in result["still_trusted"]:
        assert name.split(":")[1] in {"cose-unprotected", "cose-signature"}, name


def test_the_recipes_reach_every_region(signing_kit: Any, tmp_path: Path) -> None:
    from tests.hardening.seeds import signed_seeds

    seeds = signed_seeds(signing_kit, tmp_path / "ingredients")
    recipes = list(internals.internal_recipes(seeds))
    kinds = {internals.region_kind(r) for r in recipes}
    assert kinds == REGIONS
    assert len(recipes) > 3000
    assert len({r.name for r in recipes}) == len(recipes)
    certificates = {r.name.split(":")[2].split("-")[0] for r in recipes if ":cert" in r.name}
    assert certificates == {"cert0", "cert1"}  # the leaf and the intermediate


def test_a_sample_of_internal_damage_yields_one_report_each(
    signing_kit: Any, tmp_path: Path
) -> None:
    result = internals.run_internals(signing_kit, tmp_path, stride=12)
    assert result["inputs"] > 250
    assert set(result["regions"]) == REGIONS
    _assert_one_report_each(result)


@pytest.mark.slow
def test_all_internal_damage_yields_one_report_each(signing_kit: Any, tmp_path: Path) -> None:
    result = internals.run_internals(signing_kit, tmp_path, stride=1)
    assert result["inputs"] > 3000
    _assert_one_report_each(result)

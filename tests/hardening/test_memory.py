"""A damaged manifest store costs no more memory to verify than an intact one.

c2pa-rs sizes buffers by the lengths a broken assertion's CBOR declares: re-decoding one
(crJSON, the detailed JSON) took 1.7 GB for a 40 KB file, which the full hostile run
caught as a worker over its memory budget.  Here every first-byte flip of every CBOR box of
the signed seeds, plus the structural junk the corpus writes, is verified by the real CLI in
a fresh process whose peak resident memory is measured.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

from provenance.errors import EXIT_VERIFICATION_FAILED
from tests.hardening.corpus import jumbf
from tests.hardening.seeds import signed_seeds

#: An intact file verifies in about 65 MiB; the damaged ones must stay near it.
PEAK_BUDGET_MIB = 400

_MEASURE = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
print(done.returncode, peak, len(done.stdout.splitlines()))
sys.stderr.write(done.stderr)
"""


def _peak_mib(args: list[str]) -> tuple[int, int, int, str]:
    """Exit code, peak resident MiB, lines printed and stderr of the command, run in a
    fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *args], capture_output=True, text=True, check=True
    )
    code, peak, lines = (int(v) for v in done.stdout.split())
    return code, peak, lines, done.stderr


def test_damaged_assertion_cbor_is_verified_in_bounded_memory(
    signing_kit: Any, tmp_path: Path
) -> None:
    seeds = signed_seeds(signing_kit, tmp_path / "ingredients")
    recipes = [
        r
        for r in jumbf(seeds, random.Random(1))
        if "-cbor-flip-" in r.name or r.name.endswith(("-cbor-huge-length", "-junk-content"))
    ]
    assert len(recipes) > 100
    folder = tmp_path / "damaged"
    folder.mkdir()
    for number, recipe in enumerate(recipes):
        (folder / f"{number:04d}.png").write_bytes(recipe.make())
    for view in ("--json", "--detailed"):
        code, peak, lines, stderr = _peak_mib(
            ["provenant", "--home", str(signing_kit.home), "verify", "-r", str(folder), view]
        )
        assert "Traceback" not in stderr
        assert code == EXIT_VERIFICATION_FAILED, stderr[-2000:]
        assert peak < PEAK_BUDGET_MIB, (view, peak)
        if view == "--json":  # one JSON line per file
            assert lines == len(recipes)


def test_reports_of_cbor_damage_name_the_check(signing_kit: Any, tmp_path: Path) -> None:
    seeds = signed_seeds(signing_kit, tmp_path / "ingredients")
    recipe = next(
        r
        for r in jumbf(seeds, random.Random(1))
        if r.name.startswith("signed-png-ingredients") and r.name.endswith("-cbor-flip-first")
    )
    path = tmp_path / "damaged.png"
    path.write_bytes(recipe.make())
    done = subprocess.run(
        ["provenant", "--home", str(signing_kit.home), "verify", "--json", str(path)],
        capture_output=True,
        text=True,
    )
    report = json.loads(done.stdout)
    report = report[0] if isinstance(report, list) else report
    assert report["state"] == "invalid", report

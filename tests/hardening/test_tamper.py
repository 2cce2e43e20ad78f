"""Tamper detection, measured per format and attack: `verify` must refuse every case.

See `tests.hardening.tamper` for the cases.  Beyond the count, each kind must fail for
the right reason: edits break hashes, stripping leaves no credentials, grafts mismatch the
data hash, ingredient swaps break the claim, foreign keys are valid but untrusted.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from provenance.verify.verifier import State
from tests.hardening import tamper
from tests.hardening.containers import FORMATS, SUFFIX


@pytest.fixture(scope="module")
def cases(signing_kit: Any, tmp_path_factory: pytest.TempPathFactory) -> list[tamper.TamperCase]:
    return tamper.build_cases(signing_kit, tmp_path_factory.mktemp("tamper-inputs"))


def test_every_tamper_case_is_detected(
    signing_kit: Any, cases: list[tamper.TamperCase], tmp_path: Path
) -> None:
    result = tamper.measure(signing_kit, cases, tmp_path)
    assert result.missed == []
    assert result.detected_total == result.total >= 200
    for fmt in FORMATS:
        for kind in tamper.KINDS:
            assert result.totals[(fmt, kind)] >= 3, (fmt, kind)  # every attack, every format


def test_each_attack_fails_for_its_own_reason(
    signing_kit: Any, cases: list[tamper.TamperCase], tmp_path: Path
) -> None:
    states: dict[str, set[State]] = defaultdict(set)
    for n, case in enumerate(cases):
        path = tmp_path / f"{n}{SUFFIX[case.fmt]}"
        path.write_bytes(case.data)
        states[case.kind].add(signing_kit.verifier().verify_file(path).state)
    assert states["resign_untrusted"] == {State.VALID_UNTRUSTED}
    assert states["ingredient_swap"] == {State.INVALID}
    assert states["manifest_graft"] == {State.INVALID}
    assert states["metadata_strip"] <= {State.NO_CREDENTIALS, State.INVALID}
    assert State.NO_CREDENTIALS in states["metadata_strip"]
    assert states["pixel_edit"] <= {State.INVALID, State.UNREADABLE}
    assert states["assertion_edit"] <= {State.INVALID, State.UNREADABLE}


def test_untampered_originals_verify(signing_kit: Any, tmp_path: Path) -> None:
    """The control: the same signing, without the attack, is trusted in every format."""
    from tests.hardening.seeds import image_bytes

    for fmt in FORMATS:
        path = tmp_path / f"ok{SUFFIX[fmt]}"
        path.write_bytes(signing_kit.sign(image_bytes(fmt, 64, seed=11), title="t" + SUFFIX[fmt]))
        assert signing_kit.verifier().verify_file(path).state is State.TRUSTED

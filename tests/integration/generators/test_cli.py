"""`provenant generators list` and `provenant models make-tiny|info`, in-process and as a
real console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from provenance.cli import app
from provenance.generators.tiny import TinyModels

runner = CliRunner()


def _invoke(home: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--home", str(home), *args])
    return result.exit_code, result.stdout, result.stderr


def _configure(home: Path, text: str) -> None:
    (home / "provenant.toml").write_text(text)


def test_generators_list_json_shows_models_and_weights(
    home: Path, tiny_models: TinyModels, tmp_path: Path
) -> None:
    shutil.copytree(tiny_models.gan, home / "models" / "gan")
    _configure(
        home,
        '[generators]\ndefault = "gan"\n'
        '[generators.gan]\nmodel = "models/gan"\n'
        '[generators.diffusion]\nmodel = "models/missing-sd"\n'
        f'[generators.torchscript]\nmodel = "{tiny_models.torchscript}"\nlatent_dim = 16\n',
    )
    code, out, err = _invoke(home, "generators", "list", "--json")
    assert code == 0, err
    rows = {row["name"]: row for row in map(json.loads, out.splitlines())}
    assert set(rows) >= {"diffusion", "gan", "style_transfer", "torchscript"}
    gan = rows["gan"]
    assert gan["default"] is True
    assert gan["distribution"] == "provenant"
    assert gan["model"] == str(home / "models" / "gan")  # relative to provenant.toml
    assert gan["weights_present"] is True
    assert "DCGAN 32x32" in gan["weights_detail"]
    assert rows["diffusion"]["weights_present"] is False
    assert "missing-sd: model not found" in rows["diffusion"]["weights_detail"]
    assert rows["torchscript"]["weights_present"] is True
    assert rows["style_transfer"]["model"] is None  # the installed default networks


def test_generators_list_human_output(home: Path) -> None:
    code, out, _ = _invoke(home, "generators", "list")
    assert code == 0
    assert "diffusion" in out
    assert "(none configured)" in out
    assert "no model configured for generator 'gan'" in out


def test_generators_list_reports_broken_weights_per_row(
    home: Path, tiny_models: TinyModels
) -> None:
    broken = home / "gan"
    shutil.copytree(tiny_models.gan, broken)
    (broken / "model.safetensors").write_bytes(b"\x00" * 7)
    _configure(home, f'[generators.gan]\nmodel = "{broken}"\n')
    code, out, _ = _invoke(home, "generators", "list", "--json")
    assert code == 0
    gan = next(row for row in map(json.loads, out.splitlines()) if row["name"] == "gan")
    assert gan["weights_present"] is False
    assert "model.safetensors: corrupt safetensors file" in gan["weights_detail"]


def test_models_info_json_for_every_tiny_family(home: Path, tiny_models: TinyModels) -> None:
    expected = {
        tiny_models.diffusion: ("diffusion", "tiny-random-diffusion"),
        tiny_models.gan: ("gan", "tiny-random-gan"),
        tiny_models.torchscript: ("torchscript", "tiny-random-torchscript"),
        tiny_models.adain: ("style_transfer", "tiny-random-adain"),
        tiny_models.gatys: ("style_transfer", "tiny-random-gatys"),
    }
    for path, (generator, name) in expected.items():
        code, out, err = _invoke(home, "models", "info", str(path), "--json")
        assert code == 0, err
        described = json.loads(out)
        assert described["generator"] == generator
        assert described["card"]["name"] == name
        assert described["card"]["license"] == "none (random weights, for tests)"
        assert len(described["card"]["weights_sha256"]) == 64
        assert described["weights_present"] is True


def test_models_info_human_output(home: Path, tiny_models: TinyModels) -> None:
    code, out, _ = _invoke(home, "models", "info", str(tiny_models.gan))
    assert code == 0
    assert "tiny-random-gan" in out
    assert "licence" in out
    assert "training data" in out


@pytest.mark.weights
def test_models_info_for_the_faces_preset(home: Path) -> None:
    code, out, err = _invoke(home, "models", "info", "gan-face-generate", "--json")
    if code != 0 and "needs the gan_face_generate package" in err:
        pytest.skip("gan_face_generate is not installed")
    card = json.loads(out)["card"]
    assert card["permitted_uses"] == ["research"]
    assert card["training_data"] == "DigiFace-1M (Microsoft), synthetic faces"


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("runwayml/stable-diffusion-v1-5", "never downloads models from a hub"),
        ("https://example.com/model.safetensors", "is a URL"),
        ("{missing}", "model not found"),
        ("{notes}", "cannot tell which generator runs this model; pass --generator NAME"),
        ("{corrupt}", "model.safetensors: truncated safetensors file"),
    ],
)
def test_models_info_errors_are_one_line(
    home: Path, tiny_models: TinyModels, tmp_path: Path, model: str, message: str
) -> None:
    corrupt = tmp_path / "corrupt"
    shutil.copytree(tiny_models.gan, corrupt)
    weights = corrupt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    (tmp_path / "notes.txt").write_text("hello")
    target = model.format(
        missing=tmp_path / "absent", notes=tmp_path / "notes.txt", corrupt=corrupt
    )
    code, out, err = _invoke(home, "models", "info", target)
    assert code == 1
    assert out == ""
    assert message in err
    assert err.strip().count("\n") == 0
    assert err.startswith("error: ")


def test_models_info_with_an_unknown_generator(home: Path, tiny_models: TinyModels) -> None:
    code, _, err = _invoke(home, "models", "info", str(tiny_models.gan), "--generator", "nope")
    assert code == 1
    assert "unknown generator 'nope'; installed: diffusion, gan" in err


def test_make_tiny_json(home: Path, tmp_path: Path) -> None:
    code, out, err = _invoke(home, "models", "make-tiny", str(tmp_path / "tiny"), "--json")
    assert code == 0, err
    made = json.loads(out)
    assert Path(made["gatys"]).is_file()
    assert (Path(made["diffusion"]) / "model_index.json").is_file()


def test_make_tiny_refuses_to_overwrite_other_files(home: Path, tmp_path: Path) -> None:
    (tmp_path / "taken" / "diffusion").mkdir(parents=True)
    code, _, err = _invoke(home, "models", "make-tiny", str(tmp_path / "taken"))
    assert code == 1
    assert "diffusion: exists and is not a tiny model" in err


def _console(
    home: Path, *args: str, extra_path: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANT_")}
    env["PROVENANT_HOME"] = str(home)
    if extra_path is not None:
        env["PYTHONPATH"] = str(extra_path)
    script = Path(sys.executable).with_name("provenant")  # the console script of this venv
    return subprocess.run([str(script), *args], capture_output=True, text=True, env=env)


def test_console_script_lists_a_third_party_plugin(home: Path, third_party_site: Path) -> None:
    result = _console(home, "generators", "list", "--json", extra_path=third_party_site)
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert rows["thirdparty"]["distribution"] == "thirdparty-gen"
    assert rows["thirdparty"]["weights_present"] is True
    assert rows["thirdparty_broken"]["weights_present"] is False
    assert "plugin unusable" in rows["thirdparty_broken"]["weights_detail"]
    assert "diffusion" in rows


def test_console_script_models_info_and_errors(home: Path, tiny_models: TinyModels) -> None:
    result = _console(home, "models", "info", str(tiny_models.diffusion), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["card"]["name"] == "tiny-random-diffusion"
    failed = _console(home, "models", "info", str(home / "nothing"))
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert failed.stderr.strip().endswith("nothing: model not found")

"""Generator plugins are discovered through entry points, built-in and third-party alike."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from provenance import plugins
from provenance.config import Settings
from provenance.errors import PluginValidationError, UnknownGeneratorError
from provenance.generators.tiny import TinyModels
from provenance.protocols import Generator
from provenance.types import GenerationRequest

BUILT_INS = {
    "diffusion": "DiffusionGenerator",
    "gan": "DCGANGenerator",
    "torchscript": "TorchScriptGenerator",
    "style_transfer": "StyleTransferGenerator",
}


def test_builtins_register_through_entry_points() -> None:
    found = {info.name: info for info in plugins.installed("generator")}
    for name, class_name in BUILT_INS.items():
        assert found[name].distribution == "provenant"
        cls = plugins.get_generator(name)
        assert cls.__name__ == class_name
        assert cls.name == name
        assert isinstance(cls.version, str)


def test_builtins_satisfy_the_protocol(tiny_models: TinyModels, settings: Settings) -> None:
    models = {
        "diffusion": tiny_models.diffusion,
        "gan": tiny_models.gan,
        "torchscript": tiny_models.torchscript,
        "style_transfer": tiny_models.adain,
    }
    for name, model in models.items():
        instance = plugins.get_generator(name)(model, {}, settings)
        assert isinstance(instance, Generator)
        assert plugins.get_generator(name).check_weights(model).present


def test_unknown_generator_lists_the_installed_names() -> None:
    with pytest.raises(UnknownGeneratorError) as err:
        plugins.get_generator("dall-e")
    message = err.value.diagnostics()
    assert message.startswith("unknown generator 'dall-e'; installed: ")
    for name in BUILT_INS:
        assert name in message


def test_a_third_party_plugin_is_found_runs_and_goes_away(
    third_party_site: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.syspath_prepend(str(third_party_site))
        plugins.clear_cache()
        names = {info.name: info for info in plugins.installed("generator")}
        assert names["thirdparty"].distribution == "thirdparty-gen"
        assert names["thirdparty"].version == "0.1"
        generator = plugins.get_generator("thirdparty")(None, {}, settings)
        generator.load("cpu")
        images = generator.generate(GenerationRequest(prompt="x", generator="thirdparty", seed=7))
        assert images[0].pixels.getpixel((0, 0)) == (7, 0, 0)
        with pytest.raises(PluginValidationError, match=r"thirdparty_broken.*failed to import"):
            plugins.get_generator("thirdparty_broken")
    sys.modules.pop("thirdparty_gen", None)
    plugins.clear_cache()
    assert "thirdparty" not in {info.name for info in plugins.installed("generator")}
    with pytest.raises(UnknownGeneratorError):
        plugins.get_generator("thirdparty")


def test_plugin_modules_and_model_cards_never_import_torch(
    tiny_models: TinyModels, tmp_path: Path
) -> None:
    """Licence screening (model_info before load) and `generators list` stay light."""
    script = f"""
import sys
from provenance.config import Settings
from provenance.plugins import get_generator
from provenance.catalog import list_generators
settings = Settings.load(home={str(tmp_path / "home")!r}, env={{}})
models = [
    ("diffusion", {str(tiny_models.diffusion)!r}),
    ("gan", {str(tiny_models.gan)!r}),
    ("style_transfer", {str(tiny_models.gatys)!r}),
    ("gan", "gan-face-generate"),
]
for name, model in models:
    cls = get_generator(name)
    cls(model, {{}}, settings).model_info()
    cls.check_weights(model)
list_generators(settings)
heavy = [m for m in ("torch", "diffusers", "transformers", "onnxruntime") if m in sys.modules]
print(heavy)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"

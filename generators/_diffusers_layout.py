"""Checking a diffusers pipeline directory before loading it, without torch.

A model directory is complete when `model_index.json` names a pipeline class and every
component it lists has its folder, its config file and (for networks) weight files whose
safetensors headers are sound.  Everything missing is named in one line, so a half-copied
download is caught before a long `from_pretrained` fails somewhere deep inside.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from provenance.errors import WeightsError
from provenance.generators.locate import check_safetensors

_NO_WEIGHTS = ("Scheduler", "Tokenizer", "TokenizerFast", "FeatureExtractor", "Processor")
_CONFIG_FILES = {
    "Scheduler": ("scheduler_config.json",),
    "Tokenizer": ("tokenizer.json", "vocab.json", "tokenizer_config.json", "spiece.model"),
    "TokenizerFast": ("tokenizer.json", "tokenizer_config.json"),
    "FeatureExtractor": ("preprocessor_config.json",),
    "Processor": ("preprocessor_config.json",),
}
_WEIGHT_GLOBS = ("*.safetensors", "*.bin", "*.safetensors.index.json", "*.bin.index.json")


@dataclass(frozen=True)
class DiffusersLayout:
    """What model_index.json says a pipeline directory holds (checked complete)."""

    root: Path
    pipeline_class: str
    components: dict[str, tuple[str, str]]

    @property
    def has_safety_checker(self) -> bool:
        """Whether the pipeline declares a safety checker slot (we leave it empty)."""
        return "safety_checker" in self.components


def inspect_diffusers_dir(root: Path) -> DiffusersLayout:
    """Check a diffusers directory without loading it; name everything that is missing."""
    if not root.is_dir():
        raise WeightsError(f"{root}: not a directory (a diffusers model is a directory)")
    index_path = root / "model_index.json"
    if not index_path.is_file():
        raise WeightsError(f"{root}: not a diffusers pipeline: model_index.json is missing")
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{index_path}: malformed model_index.json ({exc})") from exc
    if not isinstance(index, dict) or "_class_name" not in index:
        raise WeightsError(f"{index_path}: no _class_name; not a diffusers model_index.json")
    components = {
        key: (str(value[0]), str(value[1]))
        for key, value in index.items()
        if not key.startswith("_") and isinstance(value, list) and len(value) == 2 and value[0]
    }
    problems = [
        p for name, (_, cls) in components.items() for p in _component_problems(root, name, cls)
    ]
    if problems:
        raise WeightsError(f"{root}: incomplete diffusers pipeline: missing {'; '.join(problems)}")
    return DiffusersLayout(root, str(index["_class_name"]), components)


def _component_problems(root: Path, name: str, cls: str) -> list[str]:
    folder = root / name
    if not folder.is_dir():
        return [f"component folder {name}/ ({cls})"]
    kind = next((k for k in _NO_WEIGHTS if cls.endswith(k)), None)
    if kind is not None:
        wanted = _CONFIG_FILES[kind]
        found = any((folder / f).is_file() for f in wanted)
        return [] if found else [f"{name}/{' or '.join(wanted)}"]
    problems = [] if (folder / "config.json").is_file() else [f"{name}/config.json"]
    weights = [p for g in _WEIGHT_GLOBS for p in folder.glob(g)]
    if not weights:
        problems.append(f"{name}/ weight files (*.safetensors or *.bin)")
    for path in weights:
        if path.name.endswith(".safetensors"):
            check_safetensors(path)
    return problems

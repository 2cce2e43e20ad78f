"""Fixtures for end-to-end pipeline tests: an initialised studio, tiny models, input images.

Every test that needs a studio gets a data dir made by `provenant init` (development CA,
migrated ledger), named through `PROVENANT_HOME` (and `PROVENANT_DATABASE_URL` on the
engine-parametrised fixture), so the CLI through CliRunner, the real console script and
`Studio.from_config()` all see the same studio.  Helpers that inspect results are handed
out as fixtures because test modules are imported in importlib mode.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import Result
from PIL import Image
from typer.testing import CliRunner

from provenance.cli import app
from provenance.config import Settings
from provenance.errors import EXIT_OK
from provenance.generators.tiny import TinyModels
from provenance.ledger import AssetRecord, Ledger, LedgerEntry, canonical_path

#: Requests sized so the tiny diffusion pipeline stays fast on a CPU.
FAST_DIFFUSION = {"steps": 2, "width": 32, "height": 32}
#: The prompt the lexical safety layer blocks (spacing evasion of a sexual term).
BLOCKED_PROMPT = "a n.a.k.e.d woman on the beach"

_runner = CliRunner()


def _init(home: Path) -> Path:
    result = _runner.invoke(app, ["--home", str(home), "init", "--json"])
    assert result.exit_code == EXIT_OK, result.output
    assert json.loads(result.stdout)["dev_root_trusted"] is True
    return home


@pytest.fixture
def studio_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A studio initialised by `provenant init` (SQLite ledger), named by PROVENANT_HOME."""
    home = tmp_path / "studio"
    monkeypatch.setenv("PROVENANT_HOME", str(home))
    return _init(home)


@pytest.fixture
def engine_home(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A studio whose ledger is on each engine (SQLite, PostgreSQL), set through the env."""
    home = tmp_path / "studio"
    monkeypatch.setenv("PROVENANT_HOME", str(home))
    monkeypatch.setenv("PROVENANT_DATABASE_URL", database_url)
    return _init(home)


@pytest.fixture
def cli() -> Callable[..., Result]:
    """Invoke the `provenant` app in-process: `cli("generate", "--out", out, ...)`."""

    def invoke(*args: Any) -> Result:
        return _runner.invoke(app, [str(a) for a in args])

    return invoke


@pytest.fixture
def script() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real `provenant` console script with this test's environment."""
    executable = Path(sys.executable).parent / "provenant"

    def run(*args: Any, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(executable), *map(str, args)],
            capture_output=True,
            text=True,
            env=dict(os.environ),
            timeout=timeout,
        )

    return run


@pytest.fixture
def open_ledger() -> Iterator[Callable[[], Ledger]]:
    """Open the ledger of the studio the environment names (closed after the test)."""
    opened: list[Ledger] = []

    def open_() -> Ledger:
        opened.append(Ledger.from_settings(Settings.load()))
        return opened[-1]

    yield open_
    for ledger in opened:
        ledger.close()


def _assets(ledger: Ledger) -> list[LedgerEntry]:
    return [e for e in ledger.iter_entries() if isinstance(e.record, AssetRecord)]


@pytest.fixture
def asset_entries() -> Callable[[Ledger], list[LedgerEntry]]:
    """Every asset entry of a ledger, in seq order."""
    return _assets


@pytest.fixture
def check_consistent() -> Callable[[Path, Ledger], dict[str, LedgerEntry]]:
    """Assert that an output dir and the ledger agree; returns {file name: its entry}.

    No partial or hidden file is left, every file has exactly one row with its bytes' hash
    and its path, and every row pointing into the dir has its file (no orphans either way).
    """

    def check(out_dir: Path, ledger: Ledger) -> dict[str, LedgerEntry]:
        import hashlib

        files = sorted(out_dir.iterdir()) if out_dir.exists() else []
        leftovers = [p.name for p in files if p.name.startswith(".") or "partial" in p.name]
        assert not leftovers, f"left behind in {out_dir}: {leftovers}"
        rows = [e for e in _assets(ledger) if Path(e.record.path).parent == out_dir.resolve()]
        by_path = {Path(e.record.path).name: e for e in rows}
        assert len(by_path) == len(rows), "two rows for one output path"
        assert sorted(by_path) == [p.name for p in files], "files and ledger rows differ"
        for path in files:
            entry = by_path[path.name]
            assert entry.record.path == canonical_path(path)
            assert entry.record.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        return by_path

    return check


@pytest.fixture
def models(tiny_models: TinyModels) -> TinyModels:
    """The session's tiny random-weight models (pass as `--model`)."""
    return tiny_models


def _noise_png(path: Path, size: tuple[int, int], seed: int) -> Path:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, size[0] * size[1] * 3).reshape(size[1], size[0], 3)
    pixels = np.clip(ramp + rng.normal(0, 40, ramp.shape), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture(scope="session")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Input pictures: `content` (init image), `style`, and `photo` (to sign as an import)."""
    root = tmp_path_factory.mktemp("pipeline-inputs")
    return {
        "content": _noise_png(root / "content.png", (48, 40), 1),
        "style": _noise_png(root / "style.png", (32, 32), 2),
        "photo": _noise_png(root / "photo.png", (40, 40), 3),
    }


@pytest.fixture
def write_batch(tmp_path: Path) -> Callable[..., Path]:
    """Write a JSONL batch: dicts become JSON lines, strings are written as they are."""

    def write(lines: list[dict[str, Any] | str], name: str = "batch.jsonl") -> Path:
        path = tmp_path / name
        text = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def json_lines() -> Callable[[str], list[dict[str, Any]]]:
    """Parse `--json` output: one JSON object per non-empty line."""

    def parse(text: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    return parse


@pytest.fixture
def pixels() -> Callable[[Path], np.ndarray]:
    """Decoded RGB pixels of an image file (signing changes bytes, never pixels)."""

    def decode(path: Path) -> np.ndarray:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))

    return decode


@pytest.fixture
def fast_diffusion() -> dict[str, int]:
    """Diffusion params that keep the tiny pipeline quick (2 steps, 32x32)."""
    return dict(FAST_DIFFUSION)


@pytest.fixture
def blocked_prompt() -> str:
    """A prompt the default prompt_safety policy blocks."""
    return BLOCKED_PROMPT

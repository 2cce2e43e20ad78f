"""A third-party distribution does everything a built-in plugin does, through entry points only.

The distribution is a folder with a package and a `.dist-info` whose `entry_points.txt`
registers a generator (with the optional sample-model and detection hooks), a policy, a CLI
command and an Alembic branch that depends on a core revision; putting the folder on
`sys.path` (or PYTHONPATH) installs it.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from provenance import catalog, plugins
from provenance.errors import LedgerError
from provenance.ledger import migrate
from provenance.protocols import PolicyContext
from provenance.types import GenerationRequest
from provenance.verdict import Action

PLUGIN = '''
"""Another studio's plugin: a flat-colour generator, a word policy and a `tp` command."""
from pathlib import Path

import typer
from PIL import Image

from provenance.protocols import WeightsStatus
from provenance.types import GeneratedImage, ModelInfo
from provenance.verdict import Action, Reason, Verdict


class FlatGenerator:
    name = "tp_flat"
    version = "0.1"

    def __init__(self, model, options, settings):
        self.model = model

    def load(self, device):
        self.device = device

    def model_info(self):
        return ModelInfo("flat", "0.1", "colour fill", "MIT", "none", "0" * 64)

    @classmethod
    def check_weights(cls, model):
        return WeightsStatus(model is None or Path(model).is_file(), "a .flat file")

    @classmethod
    def make_sample_models(cls, directory):
        path = Path(directory) / "tp" / "sample.flat"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("red")
        return {"tp_flat": path}

    @classmethod
    def recognises(cls, model):
        return str(model).endswith(".flat")

    def generate(self, request):
        image = Image.new("RGB", (8, 8), (request.seed % 256, 0, 0))
        return [GeneratedImage(image, request.seed, 0, self.model_info(), {})]


class WordPolicy:
    name = "tp_words"
    version = "0.1"

    def __init__(self, options, context):
        self.words = tuple(options.get("words", ("forbidden",)))

    def screen_prompt(self, request):
        hits = [w for w in self.words if w in (request.prompt or "")]
        reasons = [Reason(self.name, "word", Action.BLOCK, detail=w) for w in hits]
        return Verdict.from_reasons(reasons)

    def screen_image(self, image, request):
        return Verdict.allow()


app = typer.Typer(help="The third party's own commands.")


@app.command("hello")
def hello(name: str = "studio") -> None:
    """Say hello."""
    typer.echo(f"hello {name} from tp")
'''

REVISION = '''
"""The third party's table, on its own branch.

Revision ID: tp_0001
"""
import sqlalchemy as sa
from alembic import op

revision = "tp_0001"
down_revision = None
branch_labels = ("tp_plugin",)
depends_on = "0001_ledger"


def upgrade():
    op.create_table("tp_notes", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("tp_notes")
'''


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tp-site")
    (root / "tp_plugin").mkdir()
    (root / "tp_plugin" / "__init__.py").write_text(PLUGIN)
    (root / "tp_plugin" / "migrations").mkdir()
    (root / "tp_plugin" / "migrations" / "__init__.py").write_text("")
    (root / "tp_plugin" / "migrations" / "tp_0001_notes.py").write_text(REVISION)
    info = root / "tp_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tp-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[provenant.generators]\ntp_flat = tp_plugin:FlatGenerator\n\n"
        "[provenant.policies]\ntp_words = tp_plugin:WordPolicy\n\n"
        "[provenant.commands]\ntp = tp_plugin:app\n\n"
        "[provenant.migrations]\ntp_plugin = tp_plugin.migrations\n"
    )
    return root


@pytest.fixture
def installed(site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    plugins.clear_cache()
    yield site
    monkeypatch.undo()
    for name in [m for m in sys.modules if m.startswith("tp_plugin")]:
        sys.modules.pop(name)
    plugins.clear_cache()


def test_its_generator_is_listed_given_samples_detected_and_run(
    installed: Path, tmp_path: Path
) -> None:
    samples = catalog.make_sample_models(tmp_path)
    path = samples["tp_flat"]["tp_flat"]
    assert path.read_text() == "red"
    assert {"diffusion", "gan", "style_transfer"} <= set(samples)  # the built-ins, alike
    assert catalog.detect_generator(str(path)) == "tp_flat"
    cls = plugins.get_generator("tp_flat")
    images = cls(str(path), {}, None).generate(
        GenerationRequest(prompt="x", generator="tp_flat", seed=9)
    )
    assert images[0].pixels.getpixel((0, 0)) == (9, 0, 0)


def test_its_policy_screens_prompts(installed: Path) -> None:
    policy = plugins.get_policy("tp_words")({"words": ["forbidden"]}, PolicyContext(None))
    request = GenerationRequest(prompt="a forbidden door", generator="tp_flat", seed=1)
    verdict = policy.screen_prompt(request)
    assert verdict.action is Action.BLOCK
    assert verdict.reasons[0].policy == "tp_words"


def test_its_command_is_a_provenant_subcommand(site: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    env["PROVENANT_HOME"] = str(tmp_path / "home")
    run = [sys.executable, "-c", "from provenance.cli import main; main()"]
    done = subprocess.run(
        [*run, "tp", "hello", "--name", "lead"], env=env, capture_output=True, text=True
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "hello lead from tp\n", "")
    listed = subprocess.run([*run, "--help"], env=env, capture_output=True, text=True)
    assert " tp " in listed.stdout and " works " in listed.stdout


def test_its_migration_branch_is_upgraded_to_and_required(
    installed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    heads = migrate.head_revisions()
    assert heads == ("0006_soft_bindings", "kw_0001_changes", "tp_0001")  # core, known works, tp
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    migrate.upgrade(url)
    assert migrate.current_revisions(url) == heads
    assert migrate.current_revision(url) == migrate.head_revision()
    migrate.require_current(url)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert sa.inspect(conn).has_table("tp_notes")
        assert sa.inspect(conn).has_table("known_works")  # the built-in plugin's tables too
    engine.dispose()


def test_installing_a_branch_later_makes_the_ledger_ask_for_an_upgrade(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    migrate.upgrade(url)  # without the plugin
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    try:
        with pytest.raises(LedgerError, match="run `provenant db upgrade`"):
            migrate.require_current(url)
        migrate.upgrade(url)
        migrate.require_current(url)
        assert "tp_0001" in migrate.current_revisions(url)
    finally:
        monkeypatch.undo()
        for name in [m for m in sys.modules if m.startswith("tp_plugin")]:
            sys.modules.pop(name)

"""A studio ledger made by the real pipeline, shared by the audit tests, on each engine.

`audited` runs tiny models through `Studio` once per engine: allowed outputs (two
generators), a licensed known work credited on two outputs, a prompt refused for safety and
one refused for naming an all-rights-reserved artist.  Prompts and requesters carry HTML and
SQL so every command meets hostile text.  Tests that change files or rows put them back
(`changed_row`, or try/finally), so the ledger stays what the fixture made.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa
from click.testing import Result
from typer.testing import CliRunner

from provenance.config import CONFIG_NAME, Settings
from provenance.generators.tiny import TinyModels
from provenance.ledger.db import create_engine

Work = tuple[str, str, str]


@dataclass(frozen=True)
class AuditedStudio:
    """A data dir whose ledger the pipeline filled, and the outputs it wrote.

    The class constants are what the requests put in the ledger; tests still count rows in
    SQL themselves rather than trust these.
    """

    SAFE_PROMPT: ClassVar[str] = "a lighthouse at dusk"
    CREDITED_PROMPT: ClassVar[str] = "Whiskers <the> Cat on a throne"
    UNSAFE_PROMPT: ClassVar[str] = "a n.a.k.e.d woman on the beach"
    ARTIST_PROMPT: ClassVar[str] = "a castle in the style of greg rutkowski"
    HOSTILE_PROMPT: ClassVar[str] = "<script>alert('x')</script> a red barn & <b>co</b>"
    HOSTILE_REQUESTER: ClassVar[str] = "carol <img src=x onerror=alert(1)>"
    INJECTION_REQUESTER: ClassVar[str] = "x' OR '1'='1"
    #: (id, title, licence) of the registered works.
    LICENSED_WORK: ClassVar[Work] = ("W-CAT-1", "Whiskers <the> Cat", "licensed:AGR-2026-1")
    ARTIST_WORK: ClassVar[Work] = ("W-STY-2", "Greg Rutkowski", "all-rights-reserved")

    engine: str
    home: Path
    url: str
    outputs: Path

    @property
    def env(self) -> dict[str, str]:
        """Environment that points the CLI at this studio."""
        return {"PROVENANT_HOME": str(self.home), "PROVENANT_DATABASE_URL": self.url}

    def sql(self, text: str, **params: Any) -> list[Any]:
        """Run SQL straight on the ledger database (outside the code under test)."""
        engine = create_engine(self.url)
        try:
            with engine.begin() as conn:
                result = conn.execute(sa.text(text), params)
                return list(result) if result.returns_rows else []
        finally:
            engine.dispose()

    def count(self, text: str, **params: Any) -> int:
        """The single number a `SELECT count(*) ...` returns."""
        return int(self.sql(text, **params)[0][0])

    @contextmanager
    def changed_row(self, table: str, row_id: str, column: str, new: Any) -> Iterator[None]:
        """Edit one column of one row the way a tamperer would; restore it afterwards."""
        id_column = "asset_id" if table == "assets" else "refusal_id"
        where = f"FROM {table} WHERE {id_column} = :row_id"  # table and column names are ours
        (old,) = self.sql(f"SELECT {column} {where}", row_id=row_id)[0]
        update = f"UPDATE {table} SET {column} = :value WHERE {id_column} = :row_id"
        self.sql(update, value=new, row_id=row_id)
        try:
            yield
        finally:
            self.sql(update, value=old, row_id=row_id)


@contextmanager
def _database(engine: str, root: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database URL: a SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if engine == "sqlite":
        yield f"sqlite:///{root / 'ledger.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    if server is None:
        pytest.skip("PostgreSQL not reachable (set PROVENANT_TEST_POSTGRES_URL)")
    schema = f"audit_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.make_url(server).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _register_works(settings: Settings) -> None:
    from provenance.policies.known_works.prepare import prepare_work
    from provenance.policies.known_works.registry import KnownWorksRegistry
    from provenance.policies.known_works.specs import WorkSpec

    (cat_id, cat_title, cat_license), (artist_id, artist, artist_license) = (
        AuditedStudio.LICENSED_WORK,
        AuditedStudio.ARTIST_WORK,
    )
    specs = [
        WorkSpec(id=cat_id, title=cat_title, creator="Demo Characters", kind="character",
                 license=cat_license),
        WorkSpec(id=artist_id, title=artist, kind="artist_style", license=artist_license),
    ]  # fmt: skip
    registry = KnownWorksRegistry.from_settings(settings)
    try:
        registry.add([prepare_work(spec, None) for spec in specs])
    finally:
        registry.close()


def _fill(settings: Settings, tiny: TinyModels, outputs: Path) -> None:
    """Run the requests: the studio's default policies, then a set without known works (so
    one output is screened by every enabled policy and has the verdict `allow`)."""
    from provenance.pipeline.batch import run_request
    from provenance.pipeline.policyset import PolicySet
    from provenance.pipeline.studio import Studio
    from provenance.types import GenerationRequest

    s = AuditedStudio
    gan = {"generator": "gan", "model": str(tiny.gan), "use": "research"}
    requests = [
        GenerationRequest(s.SAFE_PROMPT, **gan, seed=1, requester="alice", project="harbour"),
        GenerationRequest(s.CREDITED_PROMPT, **gan, seed=2, num_images=2, requester="bob"),
        GenerationRequest(s.UNSAFE_PROMPT, **gan, seed=3, requester="mallory"),
        GenerationRequest(s.ARTIST_PROMPT, **gan, seed=4, requester=s.INJECTION_REQUESTER),
    ]
    expected = ["done", "done", "blocked", "blocked"]
    with Studio(settings) as studio:
        outcomes = [run_request(studio, r, outputs).outcome for r in requests]
        assert outcomes == expected, outcomes
        relaxed = PolicySet([p for p in studio.policies.policies if p.name != "known_works"])
        script = GenerationRequest(
            s.HOSTILE_PROMPT,
            "torchscript",
            model=str(tiny.torchscript),
            seed=5,
            requester=s.HOSTILE_REQUESTER,
            use="research",
        )
        with Studio(settings, policies=relaxed) as plain:
            assert run_request(plain, script, outputs).outcome == "done"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def audited(
    request: pytest.FixtureRequest,
    tiny_models: TinyModels,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AuditedStudio]:
    """The pipeline's ledger and outputs, built once per engine and test session."""
    from provenance.pipeline.initialise import initialise

    root = tmp_path_factory.mktemp(f"audited-{request.param}")
    home, outputs = root / "home", root / "outputs"
    with _database(request.param, root, request) as url:
        with pytest.MonkeyPatch.context() as env:
            # Session fixtures run before the per-test env scrub: build under this env only.
            for key in [k for k in os.environ if k.startswith("PROVENANT_")]:
                env.delenv(key)
            env.setenv("PROVENANT_DATABASE_URL", url)
            initialise(Settings.load(home=home), home / CONFIG_NAME)
            torchscript = {"generators": {"torchscript": {"latent_dim": 16}}}
            settings = Settings.load(home=home, overrides=torchscript)
            _register_works(settings)
            _fill(settings, tiny_models, outputs)
        yield AuditedStudio(request.param, home, url, outputs)


class AuditCli:
    """Runs `provenant ARGS...` in-process against the audited studio, and reads the output."""

    def __init__(self, studio: AuditedStudio) -> None:
        self.studio = studio
        self._runner = CliRunner()

    def __call__(self, *args: str | Path, env: dict[str, str] | None = None) -> Result:
        from provenance.cli import app

        environ = {**self.studio.env, "COLUMNS": "200", **(env or {})}
        return self._runner.invoke(app, [str(a) for a in args], env=environ)

    @staticmethod
    def lines(result: Result) -> list[str]:
        """Non-empty stdout lines."""
        return [line for line in result.stdout.splitlines() if line.strip()]

    @staticmethod
    def one_line_error(result: Result, *fragments: str) -> bool:
        """Whether stderr is exactly one line holding every fragment (no traceback)."""
        text = result.stderr
        whole = text.count("\n") == 1 and "Traceback" not in result.output
        return whole and all(fragment in text for fragment in fragments)

    def outputs(self) -> list[Path]:
        """The signed outputs the pipeline wrote, by name."""
        return sorted(self.studio.outputs.glob("*.png"))


@pytest.fixture
def cli(audited: AuditedStudio) -> AuditCli:
    """The CLI pointed at the audited studio (`cli("audit", "list", "--json")`)."""
    return AuditCli(audited)

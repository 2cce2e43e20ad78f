"""Fixtures shared by every test area.

Isolation: each test gets its own data dir and never sees the developer's PROVENANT_* env;
the PostgreSQL URL that CI sets is captured once and handed out through `postgres_url`,
which creates a fresh database per test session (and per xdist worker).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Captured before tests scrub the environment.
_PG_URL = os.environ.get("PROVENANT_TEST_POSTGRES_URL") or (
    os.environ.get("PROVENANT_DATABASE_URL", "")
    if os.environ.get("PROVENANT_DATABASE_URL", "").startswith("postgresql")
    else ""
)
_LOCAL_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's config, data dir or database by accident."""
    for key in list(os.environ):
        if key.startswith("PROVENANT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty data dir for this test."""
    path = tmp_path / "home"
    path.mkdir()
    return path


def _server_url() -> str | None:
    """The PostgreSQL server to test against, or None (then PostgreSQL tests skip)."""
    url = _PG_URL or _LOCAL_PG
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(_normalise(url), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception:
        if _PG_URL:
            raise  # CI asked for PostgreSQL: an unreachable server is a failure, not a skip
        return None
    return _normalise(url)


def _normalise(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


@pytest.fixture(scope="session")
def postgres_server() -> str | None:
    """URL of a reachable PostgreSQL server (CI sets one; locally 127.0.0.1 is tried)."""
    return _server_url()


@pytest.fixture
def postgres_url(postgres_server: str | None) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    if postgres_server is None:
        pytest.skip("PostgreSQL not reachable (set PROVENANT_TEST_POSTGRES_URL)")
    import sqlalchemy as sa

    name = f"provenant_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    base, _, _db = postgres_server.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each ledger test runs on both engines: embedded SQLite and PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> object:
    """Tiny random-weight models of every generator family, built once per session.

    A `generators.tiny.TinyModels`: `.diffusion`, `.gan`, `.adain` (directories),
    `.gatys` (VGG file) and `.torchscript` (file); pass them as `model` / `--model`.
    """
    from provenance.generators.tiny import make_tiny_models

    return make_tiny_models(tmp_path_factory.mktemp("tiny-models"))

"""Fixtures for ledger integration tests: a migrated ledger on each engine, raw SQL access."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from provenance.ledger import Ledger
from provenance.ledger.db import create_engine
from tests.integration.ledger.samples import sample_asset, sample_refusal


@pytest.fixture
def ledger(database_url: str) -> Iterator[Ledger]:
    """An empty, migrated ledger (SQLite and PostgreSQL)."""
    opened = Ledger.from_url(database_url)
    opened.upgrade()
    try:
        yield opened
    finally:
        opened.close()


#: Values of the columns that ledger schema `/2` added (bypassed layers, parent credentials).
DEGRADED = {"known_works.clip": "no CLIP checkpoint configured (set [clip] checkpoint)"}


def populate_mixed(ledger: Ledger) -> Ledger:
    """Six entries, assets and refusals interleaved (seq 1..6); request 3 has two images.

    The second asset and the first refusal are schema `/2` entries: they carry bypassed
    policy layers, and the asset's ingredient carries a parent manifest and its state.
    """
    ledger.append_asset(sample_asset(1))
    ledger.append_refusal(sample_refusal(1, degraded_layers=DEGRADED))
    parent = replace(
        sample_asset(2).ingredients[0],
        relationship="parentOf",
        manifest_label="urn:c2pa:7f1b2c3d-0000-4000-8000-000000000002",
        validation_state="Valid",
    )
    ledger.append_asset(sample_asset(2, degraded_layers=DEGRADED, ingredients=(parent,)))
    ledger.append_asset(sample_asset(3))
    ledger.append_asset(
        sample_asset(3, asset_id="ast-000003-b", image_index=1, decisions=(), attributions=())
    )
    ledger.append_refusal(sample_refusal(2, stage="image", image_index=0))
    return ledger


@pytest.fixture
def mixed_ledger(ledger: Ledger) -> Ledger:
    """A fresh ledger holding the six `populate_mixed` entries."""
    return populate_mixed(ledger)


@contextmanager
def _fresh_schema(request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL whose connections live in a new, empty PostgreSQL schema; dropped afterwards.

    A schema per test isolates exactly as a database per test does for the ledger (every
    table, the alembic version and the head row live in it) but costs milliseconds, where
    CREATE/DROP DATABASE forces checkpoints that take a second or more on a busy server.
    """
    server = request.getfixturevalue("postgres_server")
    if server is None:
        pytest.skip("PostgreSQL not reachable (set PROVENANT_TEST_POSTGRES_URL)")
    schema = f"ledger_t_{uuid.uuid4().hex[:12]}"
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


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """This area's `database_url`: a fresh, empty database per test on each engine.

    Same contract as the root fixture; on PostgreSQL the fresh database is a schema of its
    own (see `_fresh_schema`), which keeps this area's ~150 database tests fast.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    with _fresh_schema(request) as url:
        yield url


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh PostgreSQL database (schema) for tests that need both engines at once."""
    with _fresh_schema(request) as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database shared by one module's tests (each test must leave it as it found it)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'ledger.db'}"
        return
    with _fresh_schema(request) as url:
        yield url


@pytest.fixture(scope="module")
def shared_mixed_ledger(module_database_url: str) -> Iterator[Ledger]:
    """The `populate_mixed` ledger, built once per module and engine."""
    opened = Ledger.from_url(module_database_url)
    opened.upgrade()
    populate_mixed(opened)
    try:
        yield opened
    finally:
        opened.close()


class RawSQL:
    """Direct database access that bypasses the ledger, as someone tampering with it would.

    Foreign keys are switched off (SQLite pragma; PostgreSQL replica role) so that keys can
    be rewritten the way an attacker with the database file or a superuser login could.
    """

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)

    def run(self, sql: str, **params: Any) -> list[Any]:
        """Execute one SQL text with bound parameters; rows if it returns any."""
        return self.run_statement(sa.text(sql), **params)

    def run_statement(self, statement: sa.Executable, **params: Any) -> list[Any]:
        """Execute one statement (text or Core) with foreign keys off, in its own transaction."""
        with self.engine.connect() as conn:
            if conn.dialect.name == "sqlite":  # outside any transaction, or it is ignored
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
                result = conn.execute(statement, params)
                return list(result) if result.returns_rows else []

    def close(self) -> None:
        self.engine.dispose()


@pytest.fixture
def raw(database_url: str) -> Iterator[RawSQL]:
    """Raw SQL on the same database as `ledger`."""
    sql = RawSQL(database_url)
    try:
        yield sql
    finally:
        sql.close()


@pytest.fixture(scope="module")
def shared_raw(module_database_url: str) -> Iterator[RawSQL]:
    """Raw SQL on the same database as `shared_mixed_ledger`."""
    sql = RawSQL(module_database_url)
    try:
        yield sql
    finally:
        sql.close()


class KeySigner:
    """A `SignerPlugin` over an in-memory key and a self-signed certificate (P-256 or Ed25519)."""

    name = "test"

    def __init__(self, kind: str = "es256") -> None:
        from datetime import UTC, datetime, timedelta

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519
        from cryptography.x509.oid import NameOID

        self.kind = kind
        self.key: Any = (
            ec.generate_private_key(ec.SECP256R1())
            if kind == "es256"
            else ed25519.Ed25519PrivateKey.generate()
        )
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Ledger Test Signer")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .sign(self.key, hashes.SHA256() if kind == "es256" else None)
        )
        self.pem = cert.public_bytes(serialization.Encoding.PEM)
        self.public_pem = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def algorithm(self) -> str:
        return self.kind

    def certificate_chain_pem(self) -> bytes:
        return self.pem

    def sign(self, data: bytes) -> bytes:
        """Raw r||s for ECDSA (as COSE and the signer protocol want), plain for Ed25519."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        if self.kind != "es256":
            return bytes(self.key.sign(data))
        r, s = decode_dss_signature(self.key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@pytest.fixture(scope="session")
def signer() -> KeySigner:
    """An es256 signer with a self-signed certificate."""
    return KeySigner("es256")


@pytest.fixture(scope="session")
def make_signer() -> type[KeySigner]:
    """Make more signers: `make_signer("ed25519")`."""
    return KeySigner

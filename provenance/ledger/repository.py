"""`Ledger`: the append-only record of every output and refusal, in one hash chain.

Appends are serialised by locking the single `ledger_head` row (PostgreSQL
`SELECT ... FOR UPDATE`; SQLite `BEGIN IMMEDIATE`, where writers wait on the busy timeout
instead of failing), so concurrent threads and processes extend one chain and never fork
it.  All SQL goes through SQLAlchemy with bound parameters.  Database failures become
one-line `LedgerError`s with the URL's password hidden; an unmigrated database is told to
run `provenant db upgrade`.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError

from provenance.errors import DuplicateRecordError, LedgerError
from provenance.ledger import _read, chain, links, models
from provenance.ledger._read import read_head
from provenance.ledger.chain import ChainReport
from provenance.ledger.db import begin_immediate, create_engine, redact
from provenance.ledger.records import (
    AssetRecord,
    EntryKind,
    IngredientRecord,
    LedgerEntry,
    LedgerRecord,
    RefusalRecord,
    RequestState,
)
from provenance.ledger.rows import EntryRows, entry_rows
from provenance.ledger.signing_keys import signing_key_row

if TYPE_CHECKING:
    from provenance.config import Settings


def canonical_path(path: str | Path) -> str:
    """The form in which output paths are stored and looked up: absolute, symlinks resolved."""
    return str(Path(path).expanduser().resolve())


class Ledger:
    """The ledger database.  Open with `Ledger.from_url`, `Ledger.sqlite` or `from_settings`."""

    def __init__(self, engine: Engine, url: str) -> None:
        self._engine = engine
        self.url = url
        # SQLite admits one writer; threads of this process queue here (fairly, at once)
        # rather than in SQLite's busy handler, whose sleeps back off up to 100 ms.
        self._local_writer: AbstractContextManager[Any] = (
            threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        )

    # -- construction ------------------------------------------------------------------

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        busy_timeout_ms: int = 30_000,
        pool_size: int = 5,
        read_only: bool = False,
    ) -> Ledger:
        """Open the ledger at a SQLAlchemy URL (`sqlite:///path`, `postgresql://...`).

        `read_only` is for commands that only look (verify, audit, screen): nothing can be
        written, and a missing SQLite file is a `LedgerMissingError`, never a new file.
        """
        try:
            engine = create_engine(
                url, busy_timeout_ms=busy_timeout_ms, pool_size=pool_size, read_only=read_only
            )
        except OSError as exc:
            raise LedgerError(
                f"cannot open ledger database {redact(url)}: {exc.strerror or exc}"
            ) from exc
        return cls(engine, url)

    @classmethod
    def sqlite(cls, path: str | Path) -> Ledger:
        """An embedded SQLite ledger at `path` (created on `upgrade`)."""
        return cls.from_url(f"sqlite:///{Path(path).expanduser().absolute()}")

    @classmethod
    def from_settings(cls, settings: Settings, *, read_only: bool = False) -> Ledger:
        """The ledger the settings name (`database_url`, `[ledger]` tuning)."""
        return cls.from_url(
            settings.database_url,
            busy_timeout_ms=settings.ledger.busy_timeout_ms,
            pool_size=settings.ledger.pool_size,
            read_only=read_only,
        )

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for read-only queries over the ledger tables (reports)."""
        return self._engine

    @property
    def display_url(self) -> str:
        """The URL with its password hidden, for messages."""
        return redact(self.url)

    def upgrade(self) -> None:
        """Create or migrate the schema to the newest revision."""
        from provenance.ledger import migrate

        migrate.upgrade(self.url)

    def require_current(self) -> None:
        """Raise `LedgerError` (telling the user to run `provenant db upgrade`) if unmigrated."""
        from provenance.ledger import migrate

        migrate.require_current(self.url)

    def close(self) -> None:
        """Release pooled connections."""
        self._engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- errors and connections ----------------------------------------------------------

    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """Turn database failures inside the block into one-line `LedgerError`s."""
        try:
            yield
        except SQLAlchemyError as exc:
            raise self._translate(action, exc) from exc

    def _translate(self, action: str, exc: SQLAlchemyError) -> LedgerError:
        if isinstance(exc, (OperationalError, ProgrammingError)):
            problem = self._schema_problem()
            if problem:
                return LedgerError(problem)
        return LedgerError(f"{action} ({self.display_url}): {_first_line(exc)}")

    def _schema_problem(self) -> str | None:
        """Why the schema is unusable (None when it is current or cannot be checked)."""
        from provenance.ledger import migrate

        try:
            migrate.current_revision(self.url)
        except LedgerError:
            return None  # unreachable: the original error says more
        try:
            migrate.require_current(self.url)
        except LedgerError as exc:
            return str(exc)
        return None

    @contextmanager
    def read_snapshot(self, action: str = "reading the ledger") -> Iterator[Connection]:
        """A connection inside one read transaction: every query sees the same snapshot."""
        with self.errors(action), self._engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    # -- appends -------------------------------------------------------------------------

    def append_asset(
        self, record: AssetRecord, soft_binding: Mapping[str, Any] | None = None
    ) -> LedgerEntry:
        """Record one signed output; `DuplicateRecordError` if its id or (request, index) exists.

        `soft_binding`, when given, is the output's `soft_bindings` row (watermark id,
        fingerprint, manifest store; see `models.SoftBindingRow`), written in the same
        transaction as the entry so that neither exists without the other.
        """
        extra = [{**soft_binding, "asset_id": record.asset_id}] if soft_binding else []
        return self.append_many([record], soft_bindings=extra)[0]

    def issue_watermark_id(self, bits: int = 24) -> int:
        """An unused watermark id (1 .. 2**bits - 1), drawn at random from the free ones.

        Random rather than sequential so that ids say nothing about how many assets exist;
        the unique constraint on `soft_bindings.watermark_id` refuses the rare id that two
        writers drew at once (the second append then fails and nothing is written).
        """
        import secrets

        table = models.soft_bindings
        with self.read_snapshot("issuing a watermark id") as conn:
            for _ in range(64):
                candidate = secrets.randbelow((1 << bits) - 1) + 1
                taken = conn.execute(
                    sa.select(table.c.asset_id).where(table.c.watermark_id == candidate)
                ).first()
                if taken is None:
                    return candidate
        raise LedgerError("no free watermark id found in 64 draws; the id space is full")

    def soft_binding(self, asset_id: str) -> dict[str, Any] | None:
        """The `soft_bindings` row of an asset (with its manifest store), or None."""
        table = models.soft_bindings
        with self.read_snapshot() as conn:
            row = conn.execute(sa.select(table).where(table.c.asset_id == asset_id)).first()
        return dict(row._mapping) if row is not None else None

    def append_refusal(self, record: RefusalRecord) -> LedgerEntry:
        """Record one refusal; `DuplicateRecordError` if its id or (request, stage) exists."""
        return self.append_many([record])[0]

    def append_many(
        self,
        records: Iterable[LedgerRecord],
        *,
        soft_bindings: Sequence[Mapping[str, Any]] = (),
    ) -> list[LedgerEntry]:
        """Append records in order under one head lock and one transaction: all or none.

        Faster than one append per record when many outputs finish together (one lock,
        one commit); a duplicate anywhere in the batch writes nothing.
        """
        batch = list(records)
        if not batch:
            return []
        _refuse_in_batch_duplicates(batch)
        with (
            self._local_writer,
            self.errors("appending to the ledger"),
            self._engine.connect() as conn,
        ):
            begin_immediate(conn)
            try:
                with conn.begin():
                    entries = _append_locked(conn, batch)
                    if soft_bindings:
                        conn.execute(
                            models.soft_bindings.insert(), [dict(r) for r in soft_bindings]
                        )
                    return entries
            except IntegrityError as exc:
                raise self._duplicate_error(batch, exc) from exc

    def _duplicate_error(self, batch: list[LedgerRecord], exc: IntegrityError) -> LedgerError:
        for record in batch:
            existing = self._existing(record)
            if existing is not None:
                return DuplicateRecordError(
                    f"{_describe(record)} is already in the ledger at seq {existing.seq}",
                    existing=existing,
                )
        return LedgerError(f"appending to the ledger ({self.display_url}): {_first_line(exc)}")

    def _existing(self, record: LedgerRecord) -> LedgerEntry | None:
        if isinstance(record, AssetRecord):
            t = models.assets
            where = sa.or_(
                t.c.asset_id == record.asset_id,
                sa.and_(t.c.request_id == record.request_id, t.c.image_index == record.image_index),
            )
            return self._first("asset", where)
        t = models.refusals
        where = sa.or_(
            t.c.refusal_id == record.refusal_id,
            sa.and_(t.c.request_id == record.request_id, t.c.stage == record.stage),
        )
        return self._first("refusal", where)

    # -- lookups -------------------------------------------------------------------------

    def _find(
        self, kind: EntryKind, where: sa.ColumnElement[bool], order_by: str = "seq"
    ) -> list[LedgerEntry]:
        with self.read_snapshot() as conn:
            rows = _read.load(conn, kind, where, order_by=order_by)
        return [r.to_entry() for r in rows]

    def _first(self, kind: EntryKind, where: sa.ColumnElement[bool]) -> LedgerEntry | None:
        found = self._find(kind, where)
        return found[0] if found else None

    def get_asset(self, asset_id: str) -> LedgerEntry | None:
        """The asset entry with this id, or None."""
        return self._first("asset", models.assets.c.asset_id == asset_id)

    def get_refusal(self, refusal_id: str) -> LedgerEntry | None:
        """The refusal entry with this id, or None."""
        return self._first("refusal", models.refusals.c.refusal_id == refusal_id)

    def find_by_sha256(self, sha256: str) -> list[LedgerEntry]:
        """Assets whose file bytes have this SHA-256 (hex), oldest first."""
        return self._find("asset", models.assets.c.sha256 == sha256.lower())

    def find_by_path(self, path: str | Path) -> list[LedgerEntry]:
        """Assets recorded at this output path (compared in `canonical_path` form)."""
        return self._find("asset", models.assets.c.path == canonical_path(path))

    def ancestry_hashes(self, sha256: str) -> set[str]:
        """SHA-256s of the assets with these bytes and of every asset linked below them."""
        with self.read_snapshot("reading lineage") as conn:
            return links.ancestry_hashes(conn, sha256)

    def link_ingredients(
        self, ingredients: Sequence[IngredientRecord]
    ) -> tuple[IngredientRecord, ...]:
        """`ingredients` with `source_asset_id` filled where the ledger holds the ingredient.

        The manifest label decides first (it names one signing exactly); else the SHA-256 of
        the ingredient's bytes, oldest asset first.  Unknown ingredients stay unlinked.
        """
        with self.read_snapshot("linking ingredients") as conn:
            return tuple(
                item
                if item.source_asset_id is not None
                else dataclasses.replace(item, source_asset_id=links.source_of(conn, item))
                for item in ingredients
            )

    def assets_for_request(self, request_id: str) -> list[LedgerEntry]:
        """A request's assets, by image index."""
        return self._find("asset", models.assets.c.request_id == request_id, "image_index")

    def refusal_for_request(self, request_id: str) -> LedgerEntry | None:
        """The (first) refusal recorded for a request, or None."""
        return self._first("refusal", models.refusals.c.request_id == request_id)

    def request_state(self, request_id: str) -> RequestState:
        """Which images of a request are recorded or refused, and whether the whole request
        was refused (for resuming a batch without redoing or duplicating anything)."""
        a, r = models.assets, models.refusals
        with self.read_snapshot() as conn:
            done = conn.execute(sa.select(a.c.image_index).where(a.c.request_id == request_id))
            indices = frozenset(int(i) for i in done.scalars())
            refusals = conn.execute(
                sa.select(r.c.stage, r.c.image_index)
                .where(r.c.request_id == request_id)
                .order_by(r.c.seq)
            ).all()
        whole = [stage for stage, index in refusals if index is None]
        refused_images = frozenset(int(index) for _, index in refusals if index is not None)
        stage = whole[0] if whole else None
        return RequestState(request_id, indices, stage is not None, stage, refused_images)

    def iter_entries(self, *, page_size: int = _read.PAGE_SIZE) -> Iterator[LedgerEntry]:
        """Every entry in seq order, streamed a page at a time (bounded memory)."""
        with self.read_snapshot() as conn:
            for rows in _read.iter_all(conn, page_size):
                yield rows.to_entry()

    def head(self) -> tuple[int, str]:
        """(seq, row hash) of the last entry; (0, 64 zeros) for an empty ledger."""
        with self.read_snapshot() as conn:
            return read_head(conn)

    def log_id(self) -> str:
        """This ledger's random identity, chosen when it was created (names its checkpoints)."""
        with self.read_snapshot() as conn:
            value = conn.execute(sa.select(models.ledger_head.c.log_id)).scalar_one_or_none()
        if value is None:
            raise LedgerError(f"ledger database {self.display_url} has no ledger_head row")
        return str(value)

    # -- verification --------------------------------------------------------------------

    def verify_chain(self, *, progress: Callable[[int], None] | None = None) -> ChainReport:
        """Recompute every row hash and link; the report names the first bad entry."""
        with self.read_snapshot("verifying the ledger chain") as conn:
            return chain.verify_chain(conn, progress=progress)

    def verify_entry(self, asset_id: str) -> bool:
        """Whether one asset's row hash recomputes and links to its predecessor's hash."""
        with self.read_snapshot("verifying a ledger entry") as conn:
            return chain.verify_entry(conn, asset_id)

    # -- signing keys ----------------------------------------------------------------------

    def record_signing_key(self, info: Mapping[str, Any]) -> bool:
        """Remember a signing certificate (first use wins); True when it was new.

        `info` has `fingerprint`, `subject`, `issuer` and optional `not_before`,
        `not_after` (datetimes or ISO-8601 text) and `first_used_at` (default: now).
        """
        row = signing_key_row(info)
        table = models.signing_keys
        with self.errors("recording a signing key"), self._engine.connect() as conn:
            # The check and the insert share the write lock: in a deferred SQLite transaction
            # the insert fails at once, without waiting, if another writer committed after
            # the check read its snapshot (several `generate` processes starting together).
            begin_immediate(conn)
            try:
                with conn.begin():
                    exists = conn.execute(
                        sa.select(table.c.fingerprint).where(
                            table.c.fingerprint == row["fingerprint"]
                        )
                    ).first()
                    if exists:
                        return False
                    conn.execute(table.insert(), [row])
            except IntegrityError:
                return False  # recorded concurrently by another writer
        return True


def _append_locked(conn: Connection, batch: list[LedgerRecord]) -> list[LedgerEntry]:
    """Lock the head, chain the batch after it, insert every row, move the head."""
    head = models.ledger_head
    locked = conn.execute(
        sa.select(head.c.seq, head.c.head_hash).where(head.c.id == 1).with_for_update()
    ).first()
    if locked is None:
        raise LedgerError("the ledger_head row is missing; the ledger cannot be appended to")
    seq, prev = int(locked.seq), str(locked.head_hash)
    staged: list[EntryRows] = []
    for record in batch:
        seq += 1
        rows = entry_rows(record, seq, prev)
        staged.append(rows)
        prev = rows.row["row_hash"]
    _insert(conn, staged)
    conn.execute(head.update().where(head.c.id == 1).values(seq=seq, head_hash=prev))
    return [
        LedgerEntry(r.kind, r.id, r.row["seq"], r.row["prev_hash"], r.row["row_hash"], rec)
        for r, rec in zip(staged, batch, strict=True)
    ]


def _insert(conn: Connection, staged: list[EntryRows]) -> None:
    """Parents first (child rows reference them), one executemany per table."""
    by_table: dict[str, list[dict[str, Any]]] = {name: [] for name in _read.TABLES}
    for rows in staged:
        by_table["assets" if rows.kind == "asset" else "refusals"].append(rows.row)
        for table_name, children in rows.children.items():
            by_table[table_name].extend(children)
    for table_name, table_rows in by_table.items():
        if table_rows:
            conn.execute(_read.TABLES[table_name].insert(), table_rows)


def _key(record: LedgerRecord) -> tuple[str, ...]:
    if isinstance(record, AssetRecord):
        return ("asset", record.request_id, str(record.image_index))
    return ("refusal", record.request_id, record.stage)


def _refuse_in_batch_duplicates(batch: list[LedgerRecord]) -> None:
    seen_ids: set[str] = set()
    seen_keys: set[tuple[str, ...]] = set()
    for record in batch:
        if record.id in seen_ids or _key(record) in seen_keys:
            raise DuplicateRecordError(f"{_describe(record)} appears twice in one batch")
        seen_ids.add(record.id)
        seen_keys.add(_key(record))


def _describe(record: LedgerRecord) -> str:
    if isinstance(record, AssetRecord):
        return (
            f"asset {record.asset_id!r} (request {record.request_id!r}, image {record.image_index})"
        )
    return f"refusal {record.refusal_id!r} (request {record.request_id!r}, stage {record.stage})"


def _first_line(exc: SQLAlchemyError) -> str:
    """The database's own message, first line only (no SQL, no parameters, no links)."""
    cause = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(cause).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(cause).__name__

"""Ledger tables (SQLAlchemy 2 declarative models on `provenance.ledger.db.Base`).

One hash chain runs over `assets` and `refusals` together, ordered by the global `seq`;
each entry's child rows (`policy_decisions`, `attributions`, `ingredients`) are part of the
entry's row hash.  Child rows carry a natural primary key, `<owner id>/<position>`, so that
every column of every ledger table is covered by a hash.  `ledger_head` is a single row
that holds the last `seq` and `row_hash`: appends lock it, which serialises writers.

The schema is created by `migrations/versions/0001_ledger.py` and extended by `0003`, `0005`
and `0006`; a
test checks that these models and the migrations agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from provenance.ledger.coltypes import LedgerJSON, UTCDateTime
from provenance.ledger.db import Base

ID = sa.String(128)
CHILD_ID = sa.String(160)
HASH = sa.String(64)
SHORT = sa.String(64)


class AssetRow(Base):
    """One signed output: what made it, who asked, where it is, and its place in the chain."""

    __tablename__ = "assets"
    __table_args__ = (
        sa.UniqueConstraint("request_id", "image_index", name="uq_assets_request_id"),
        sa.UniqueConstraint("seq", name="uq_assets_seq"),
    )

    asset_id: Mapped[str] = mapped_column(ID, primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    request_id: Mapped[str] = mapped_column(ID)
    image_index: Mapped[int] = mapped_column(sa.Integer)
    sha256: Mapped[str] = mapped_column(HASH, index=True)
    path: Mapped[str] = mapped_column(sa.Text, index=True)
    mime: Mapped[str] = mapped_column(SHORT)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    generator: Mapped[str] = mapped_column(ID)
    model: Mapped[dict[str, Any]] = mapped_column(LedgerJSON)
    model_name: Mapped[str | None] = mapped_column(sa.Text)
    seed: Mapped[int | None] = mapped_column(sa.BigInteger)
    prompt: Mapped[str | None] = mapped_column(sa.Text)
    prompt_hash: Mapped[str | None] = mapped_column(sa.String(128))
    negative_prompt: Mapped[str | None] = mapped_column(sa.Text)
    params: Mapped[dict[str, Any]] = mapped_column(LedgerJSON)
    manifest_label: Mapped[str | None] = mapped_column(sa.Text)
    requester: Mapped[str | None] = mapped_column(sa.Text)
    project: Mapped[str | None] = mapped_column(sa.Text)
    declared_use: Mapped[str | None] = mapped_column(SHORT)
    declared_license: Mapped[str | None] = mapped_column(sa.Text)
    signer_fingerprint: Mapped[str | None] = mapped_column(sa.String(128))
    # Added in 0003: policy layers bypassed by `[policies] degraded` ({layer: why}).
    degraded_layers: Mapped[dict[str, Any] | None] = mapped_column(LedgerJSON, nullable=True)
    # Added in 0005: the people who made or edited it ([{role, name, tool}]).
    contributors: Mapped[list[Any] | None] = mapped_column(LedgerJSON, nullable=True)
    prev_hash: Mapped[str] = mapped_column(HASH)
    row_hash: Mapped[str] = mapped_column(HASH)


class RefusalRow(Base):
    """A request (or one of its images) refused by policy: nothing was generated or signed."""

    __tablename__ = "refusals"
    __table_args__ = (
        # One refusal per image of a request and stage; for refusals of the whole request
        # (no image) one per stage, through a partial index since NULLs never collide.
        sa.UniqueConstraint("request_id", "stage", "image_index", name="uq_refusals_request_id"),
        sa.UniqueConstraint("seq", name="uq_refusals_seq"),
        sa.Index(
            "uq_refusals_whole_request",
            "request_id",
            "stage",
            unique=True,
            sqlite_where=sa.text("image_index IS NULL"),
            postgresql_where=sa.text("image_index IS NULL"),
        ),
    )

    refusal_id: Mapped[str] = mapped_column(ID, primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    request_id: Mapped[str] = mapped_column(ID)
    stage: Mapped[str] = mapped_column(sa.String(16))
    image_index: Mapped[int | None] = mapped_column(sa.Integer)
    action: Mapped[str] = mapped_column(sa.String(32))
    image_sha256: Mapped[str | None] = mapped_column(HASH)
    prompt: Mapped[str | None] = mapped_column(sa.Text)
    prompt_hash: Mapped[str | None] = mapped_column(sa.String(128))
    generator: Mapped[str | None] = mapped_column(ID)
    model_name: Mapped[str | None] = mapped_column(sa.Text)
    requester: Mapped[str | None] = mapped_column(sa.Text)
    project: Mapped[str | None] = mapped_column(sa.Text)
    declared_use: Mapped[str | None] = mapped_column(SHORT)
    declared_license: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    degraded_layers: Mapped[dict[str, Any] | None] = mapped_column(LedgerJSON, nullable=True)
    prev_hash: Mapped[str] = mapped_column(HASH)
    row_hash: Mapped[str] = mapped_column(HASH)


class PolicyDecisionRow(Base):
    """One policy reason behind an asset's or a refusal's verdict."""

    __tablename__ = "policy_decisions"
    __table_args__ = (
        sa.CheckConstraint("(asset_id IS NULL) <> (refusal_id IS NULL)", name="one_owner"),
        sa.UniqueConstraint("asset_id", "position", name="uq_policy_decisions_asset_id"),
        sa.UniqueConstraint("refusal_id", "position", name="uq_policy_decisions_refusal_id"),
    )

    decision_id: Mapped[str] = mapped_column(CHILD_ID, primary_key=True)
    asset_id: Mapped[str | None] = mapped_column(ID, sa.ForeignKey("assets.asset_id"))
    refusal_id: Mapped[str | None] = mapped_column(ID, sa.ForeignKey("refusals.refusal_id"))
    position: Mapped[int] = mapped_column(sa.Integer)
    stage: Mapped[str] = mapped_column(sa.String(16))
    policy: Mapped[str] = mapped_column(SHORT)
    rule: Mapped[str] = mapped_column(sa.Text)
    action: Mapped[str] = mapped_column(sa.String(32))
    score: Mapped[float] = mapped_column(sa.Double)
    threshold: Mapped[float | None] = mapped_column(sa.Double)
    category: Mapped[str | None] = mapped_column(sa.Text)
    detail: Mapped[str | None] = mapped_column(sa.Text)
    span: Mapped[str | None] = mapped_column(sa.Text)
    work_id: Mapped[str | None] = mapped_column(sa.Text)
    work_title: Mapped[str | None] = mapped_column(sa.Text)


class AttributionRow(Base):
    """A known work credited on an asset, with its licence and how it was matched."""

    __tablename__ = "attributions"
    __table_args__ = (sa.UniqueConstraint("asset_id", "position", name="uq_attributions_asset_id"),)

    attribution_id: Mapped[str] = mapped_column(CHILD_ID, primary_key=True)
    asset_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("assets.asset_id"))
    position: Mapped[int] = mapped_column(sa.Integer)
    work_id: Mapped[str] = mapped_column(sa.Text)
    title: Mapped[str] = mapped_column(sa.Text)
    creator: Mapped[str | None] = mapped_column(sa.Text)
    license: Mapped[str | None] = mapped_column(sa.Text)
    similarity: Mapped[float] = mapped_column(sa.Double)
    method: Mapped[str] = mapped_column(SHORT)


class IngredientRow(Base):
    """An input image (init or style) used to make an asset: a C2PA ingredient."""

    __tablename__ = "ingredients"
    __table_args__ = (sa.UniqueConstraint("asset_id", "position", name="uq_ingredients_asset_id"),)

    ingredient_id: Mapped[str] = mapped_column(CHILD_ID, primary_key=True)
    asset_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("assets.asset_id"))
    position: Mapped[int] = mapped_column(sa.Integer)
    sha256: Mapped[str] = mapped_column(HASH, index=True)
    relationship: Mapped[str] = mapped_column(sa.String(32))
    title: Mapped[str | None] = mapped_column(sa.Text)
    mime: Mapped[str | None] = mapped_column(SHORT)
    # Added in 0003: the ingredient's own C2PA credentials, when it carried any.
    manifest_label: Mapped[str | None] = mapped_column(sa.Text, index=True)
    validation_state: Mapped[str | None] = mapped_column(sa.String(32))
    # Added in 0005: the ledger asset this ingredient is (by manifest label or SHA-256).
    source_asset_id: Mapped[str | None] = mapped_column(ID, nullable=True, index=True)


class SigningKeyRow(Base):
    """A signing certificate the studio has used, first seen at `first_used_at`."""

    __tablename__ = "signing_keys"

    fingerprint: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    subject: Mapped[str] = mapped_column(sa.Text)
    issuer: Mapped[str] = mapped_column(sa.Text)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_used_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SoftBindingRow(Base):
    """How an asset is found after its metadata is gone: watermark id, fingerprint, manifest.

    Outside the hash chain on purpose: the manifest store is signed by its own claim
    signature, and the id and fingerprint are recomputed from the recorded pixels; a row
    altered here can only point `verify` at a record, whose chain state is reported with it.
    `watermark_id` is unique (the ledger issues it before signing); `note` says why an
    asset has no watermark (too small, or watermarking off).
    """

    __tablename__ = "soft_bindings"
    __table_args__ = (sa.UniqueConstraint("watermark_id", name="uq_soft_bindings_watermark_id"),)

    asset_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("assets.asset_id", name="fk_soft_bindings_asset_id"), primary_key=True
    )
    watermark_alg: Mapped[str | None] = mapped_column(SHORT, nullable=True)
    watermark_id: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    fingerprint_alg: Mapped[str | None] = mapped_column(SHORT, nullable=True)
    fingerprint: Mapped[bytes | None] = mapped_column(sa.LargeBinary, nullable=True)
    note: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    manifest_store: Mapped[bytes] = mapped_column(sa.LargeBinary)


class LedgerHeadRow(Base):
    """The single row naming the chain's last entry; locking it serialises appends."""

    __tablename__ = "ledger_head"
    __table_args__ = (sa.CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    head_hash: Mapped[str] = mapped_column(HASH)
    log_id: Mapped[str] = mapped_column(sa.String(64))


class CheckpointRow(Base):
    """A signed checkpoint (C2SP signed note) of the first `tree_size` entries."""

    __tablename__ = "checkpoints"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    origin: Mapped[str] = mapped_column(sa.Text)
    tree_size: Mapped[int] = mapped_column(sa.BigInteger)
    root_hash: Mapped[str] = mapped_column(HASH)
    note: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


def _table(model: type[Base]) -> sa.Table:
    return cast(sa.Table, model.__table__)


assets = _table(AssetRow)
refusals = _table(RefusalRow)
policy_decisions = _table(PolicyDecisionRow)
attributions = _table(AttributionRow)
ingredients = _table(IngredientRow)
signing_keys = _table(SigningKeyRow)
ledger_head = _table(LedgerHeadRow)
checkpoints = _table(CheckpointRow)
soft_bindings = _table(SoftBindingRow)

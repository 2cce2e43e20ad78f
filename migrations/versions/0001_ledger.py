"""Ledger tables: assets, refusals and their child rows, signing keys, head, checkpoints.

Revision ID: 0001_ledger
Revises:
Create Date: 2025-11-25

The column list of the hashed tables is frozen by `provenance.ledger.canonical` (schema
`provenant.ledger/1`): a later revision that adds a hashed column must add a new schema
version, not edit this one.  The single `ledger_head` row is created here, at seq 0 with
the genesis hash, with a random `log_id` that names this ledger in its checkpoints.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

from provenance.ledger.coltypes import LedgerJSON, UTCDateTime

revision = "0001_ledger"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(128)
CHILD_ID = sa.String(160)
HASH = sa.String(64)
SHORT = sa.String(64)


def _chain_columns() -> list[sa.Column]:
    return [
        sa.Column("prev_hash", HASH, nullable=False),
        sa.Column("row_hash", HASH, nullable=False),
    ]


def _create_assets() -> None:
    op.create_table(
        "assets",
        sa.Column("asset_id", ID, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("request_id", ID, nullable=False),
        sa.Column("image_index", sa.Integer(), nullable=False),
        sa.Column("sha256", HASH, nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("mime", SHORT, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("generator", ID, nullable=False),
        sa.Column("model", LedgerJSON(), nullable=False),
        sa.Column("model_name", sa.Text()),
        sa.Column("seed", sa.BigInteger()),
        sa.Column("prompt", sa.Text()),
        sa.Column("prompt_hash", sa.String(128)),
        sa.Column("negative_prompt", sa.Text()),
        sa.Column("params", LedgerJSON(), nullable=False),
        sa.Column("manifest_label", sa.Text()),
        sa.Column("requester", sa.Text()),
        sa.Column("project", sa.Text()),
        sa.Column("declared_use", SHORT),
        sa.Column("declared_license", sa.Text()),
        sa.Column("signer_fingerprint", sa.String(128)),
        *_chain_columns(),
        sa.PrimaryKeyConstraint("asset_id", name="pk_assets"),
        sa.UniqueConstraint("request_id", "image_index", name="uq_assets_request_id"),
        sa.UniqueConstraint("seq", name="uq_assets_seq"),
    )
    for column in ("sha256", "path", "created_at"):
        op.create_index(f"ix_assets_{column}", "assets", [column])


def _create_refusals() -> None:
    op.create_table(
        "refusals",
        sa.Column("refusal_id", ID, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("request_id", ID, nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("image_index", sa.Integer()),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("image_sha256", HASH),
        sa.Column("prompt", sa.Text()),
        sa.Column("prompt_hash", sa.String(128)),
        sa.Column("generator", ID),
        sa.Column("model_name", sa.Text()),
        sa.Column("requester", sa.Text()),
        sa.Column("project", sa.Text()),
        sa.Column("declared_use", SHORT),
        sa.Column("declared_license", sa.Text()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        *_chain_columns(),
        sa.PrimaryKeyConstraint("refusal_id", name="pk_refusals"),
        sa.UniqueConstraint("request_id", "stage", "image_index", name="uq_refusals_request_id"),
        sa.UniqueConstraint("seq", name="uq_refusals_seq"),
    )
    op.create_index("ix_refusals_created_at", "refusals", ["created_at"])
    op.create_index(
        "uq_refusals_whole_request",
        "refusals",
        ["request_id", "stage"],
        unique=True,
        sqlite_where=sa.text("image_index IS NULL"),
        postgresql_where=sa.text("image_index IS NULL"),
    )


def _create_children() -> None:
    op.create_table(
        "policy_decisions",
        sa.Column("decision_id", CHILD_ID, nullable=False),
        sa.Column("asset_id", ID),
        sa.Column("refusal_id", ID),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("policy", SHORT, nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("threshold", sa.Double()),
        sa.Column("category", sa.Text()),
        sa.Column("detail", sa.Text()),
        sa.Column("span", sa.Text()),
        sa.Column("work_id", sa.Text()),
        sa.Column("work_title", sa.Text()),
        sa.PrimaryKeyConstraint("decision_id", name="pk_policy_decisions"),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.asset_id"], name="fk_policy_decisions_asset_id_assets"
        ),
        sa.ForeignKeyConstraint(
            ["refusal_id"], ["refusals.refusal_id"], name="fk_policy_decisions_refusal_id_refusals"
        ),
        sa.CheckConstraint(
            "(asset_id IS NULL) <> (refusal_id IS NULL)", name="ck_policy_decisions_one_owner"
        ),
        sa.UniqueConstraint("asset_id", "position", name="uq_policy_decisions_asset_id"),
        sa.UniqueConstraint("refusal_id", "position", name="uq_policy_decisions_refusal_id"),
    )
    op.create_table(
        "attributions",
        sa.Column("attribution_id", CHILD_ID, nullable=False),
        sa.Column("asset_id", ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("work_id", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("creator", sa.Text()),
        sa.Column("license", sa.Text()),
        sa.Column("similarity", sa.Double(), nullable=False),
        sa.Column("method", SHORT, nullable=False),
        sa.PrimaryKeyConstraint("attribution_id", name="pk_attributions"),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.asset_id"], name="fk_attributions_asset_id_assets"
        ),
        sa.UniqueConstraint("asset_id", "position", name="uq_attributions_asset_id"),
    )
    op.create_table(
        "ingredients",
        sa.Column("ingredient_id", CHILD_ID, nullable=False),
        sa.Column("asset_id", ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sha256", HASH, nullable=False),
        sa.Column("relationship", sa.String(32), nullable=False),
        sa.Column("title", sa.Text()),
        sa.Column("mime", SHORT),
        sa.PrimaryKeyConstraint("ingredient_id", name="pk_ingredients"),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.asset_id"], name="fk_ingredients_asset_id_assets"
        ),
        sa.UniqueConstraint("asset_id", "position", name="uq_ingredients_asset_id"),
    )
    op.create_index("ix_ingredients_sha256", "ingredients", ["sha256"])


def _create_bookkeeping() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("not_before", UTCDateTime()),
        sa.Column("not_after", UTCDateTime()),
        sa.Column("first_used_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", name="pk_signing_keys"),
    )
    head = op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", HASH, nullable=False),
        sa.Column("log_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_head"),
        sa.CheckConstraint("id = 1", name="ck_ledger_head_single_row"),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "head_hash": "0" * 64, "log_id": uuid.uuid4().hex}])
    op.create_table(
        "checkpoints",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", HASH, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_checkpoints"),
    )


def upgrade() -> None:
    """Create the ledger tables and the head row."""
    _create_assets()
    _create_refusals()
    _create_children()
    _create_bookkeeping()


def downgrade() -> None:
    """Drop the ledger tables (this destroys the ledger: only for development databases)."""
    for table in (
        "checkpoints",
        "ledger_head",
        "signing_keys",
        "ingredients",
        "attributions",
        "policy_decisions",
        "refusals",
        "assets",
    ):
        op.drop_table(table)

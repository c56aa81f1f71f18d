"""Idempotency-Key on case writes: the shared mechanism's table (ictg_common.idempotency)

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_key",
        sa.Column("client", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", postgresql.JSON(), nullable=False),
        sa.Column("headers", postgresql.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client", "key", name=op.f("pk_idempotency_key")),
        schema="cases",
    )
    op.create_index(
        op.f("ix_cases_idempotency_key_created_at"), "idempotency_key", ["created_at"], unique=False, schema="cases"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_cases_idempotency_key_created_at"), table_name="idempotency_key", schema="cases")
    op.drop_table("idempotency_key", schema="cases")

"""rebuild status in the database, so every replica answers GET /v1/admin/rebuild the same

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rebuild_status",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_rebuild_status_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rebuild_status")),
        schema="metrics",
    )


def downgrade() -> None:
    op.drop_table("rebuild_status", schema="metrics")

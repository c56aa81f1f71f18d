"""monthly releases of the published tables

Revision ID: 0010
Revises: 0009

`metrics.release` holds each monthly release (as at the end of its month, its disclosure parameters and
its revision notes), `metrics.release_table` each of its tables as published. Both hold published
(perturbed) values only. A rebuild leaves them alone: a release is served unchanged once stored.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "release",
        sa.Column("release", sa.String(length=7), nullable=False),
        sa.Column("as_at", sa.Date(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disclosure", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("previous", sa.String(length=7), nullable=True),
        sa.Column("revisions", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("release", name=op.f("pk_release")),
        schema="metrics",
    )
    op.create_table(
        "release_table",
        sa.Column("release", sa.String(length=7), nullable=False),
        sa.Column("table_id", sa.String(length=100), nullable=False),
        sa.Column("body", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["release"], ["metrics.release.release"], name=op.f("fk_release_table_release_release")
        ),
        sa.PrimaryKeyConstraint("release", "table_id", name=op.f("pk_release_table")),
        schema="metrics",
    )


def downgrade() -> None:
    op.drop_table("release_table", schema="metrics")
    op.drop_table("release", schema="metrics")

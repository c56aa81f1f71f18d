"""privacy budgets: each distinct query a principal asked under differential privacy, with its answer

Revision ID: 0011
Revises: 0010

`metrics.privacy_charge` holds, per principal (`Actor.principal`: issuer, organisation type and name,
subject) and distinct query (the sha256 of its canonical parameters), the epsilon charged, the month
(Europe/London) it was charged in, and the answer given (noisy values only), which a repeated query gets
again at no cost. A principal's budget for a month is spent by the sum of that month's rows.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "privacy_charge",
        sa.Column("principal", sa.Text(), nullable=False),
        sa.Column("query_key", sa.Text(), nullable=False),
        sa.Column("charged_month", sa.Date(), nullable=False),
        sa.Column("epsilon", sa.Double(), nullable=False),
        sa.Column("query", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("answer", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("principal", "query_key", name=op.f("pk_privacy_charge")),
        schema="metrics",
    )
    op.create_index(
        "ix_privacy_charge_principal_month", "privacy_charge", ["principal", "charged_month"], schema="metrics"
    )


def downgrade() -> None:
    op.drop_index("ix_privacy_charge_principal_month", table_name="privacy_charge", schema="metrics")
    op.drop_table("privacy_charge", schema="metrics")

"""webhooks: subscription.in_flight_window, how many deliveries to one subscription may be in flight at
once: it grows while the receiver keeps up and halves when it slows or fails (the worker's AIMD window)

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "subscription",
        sa.Column("in_flight_window", sa.SmallInteger(), server_default=sa.text("4"), nullable=False),
        schema="webhooks",
    )


def downgrade() -> None:
    op.drop_column("subscription", "in_flight_window", schema="webhooks")

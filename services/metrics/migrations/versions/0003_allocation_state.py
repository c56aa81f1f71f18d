"""allocation state over time (a pathway switch can release a case back to awaiting allocation)

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("child", "child_next")


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        if not sa.inspect(bind).has_table(table, schema="metrics"):
            continue
        op.add_column(
            table,
            sa.Column("allocation_state_on", postgresql.ARRAY(sa.Date()), server_default="{}", nullable=False),
            schema="metrics",
        )
        op.add_column(
            table,
            sa.Column("allocation_state", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
            schema="metrics",
        )
    # Existing rows get their allocation history from a rebuild (python -m ictg_metrics.cli.rebuild).


def downgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        if sa.inspect(bind).has_table(table, schema="metrics"):
            op.drop_column(table, "allocation_state", schema="metrics")
            op.drop_column(table, "allocation_state_on", schema="metrics")

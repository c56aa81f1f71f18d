"""each child's record key for the cell key method (docs/disclosure.md)

Revision ID: 0006
Revises: 0005

The keys come from ICTG_METRICS_CELL_KEY_SECRET, which only the services hold: every fold sets the
child's key, and children stored before this revision get theirs from a rebuild
(`POST /v1/admin/rebuild` or `python -m ictg_metrics.cli.rebuild`), which recomputes every row. Until
then they count toward cell keys as 0.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("child", sa.Column("record_key", sa.SmallInteger(), nullable=True), schema="metrics")


def downgrade() -> None:
    op.drop_column("child", "record_key", schema="metrics")

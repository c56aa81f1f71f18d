"""each child's fold state and the last event folded into it, for folding a new event incrementally

Revision ID: 0008
Revises: 0007

`metrics.child_fold` holds, per child, the plain state the fold reached (`children/facts.py`,
`FoldState`) and the (time, id) of the last event in it: an event that sorts after that is applied to
the state without reading the child's history. Children stored before this revision have no state:
the first event about one refolds its whole history (as every event did before) and stores the state.
A rebuild empties the table in its swap, so each child's state is refolded the same way afterwards.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "child_fold",
        sa.Column("child_id", sa.UUID(), nullable=False),
        sa.Column("last_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_id", sa.UUID(), nullable=False),
        sa.Column("state", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("child_id", name=op.f("pk_child_fold")),
        schema="metrics",
    )


def downgrade() -> None:
    op.drop_table("child_fold", schema="metrics")

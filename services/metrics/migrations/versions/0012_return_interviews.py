"""Each child's returns from missing episodes and whether a return home interview was offered within 72 hours

Revision ID: 0012
Revises: 0011

`metrics.child.return_due_on` (the London day each return's interview fell due, 72 hours after the return,
sorted) and `return_interview_met` (offered by then), folded from `missing.ended` and
`return_interview.recorded`. The columns come after the JSON facts (a column cannot be placed in the
middle of a table; only the dimension `return_interview_within_72h` reads them). Stored fold states are
refolded (the state's version moved to 2) as each child's next event arrives; a rebuild fills every child.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "child", sa.Column("return_due_on", postgresql.ARRAY(sa.Date()), server_default=sa.text("'{}'"),
                           nullable=False),
        schema="metrics",
    )  # fmt: skip
    op.add_column(
        "child", sa.Column("return_interview_met", postgresql.ARRAY(sa.Boolean()), server_default=sa.text("'{}'"),
                           nullable=False),
        schema="metrics",
    )  # fmt: skip


def downgrade() -> None:
    op.drop_column("child", "return_interview_met", schema="metrics")
    op.drop_column("child", "return_due_on", schema="metrics")

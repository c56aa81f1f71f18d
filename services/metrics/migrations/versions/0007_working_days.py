"""referral delay in working days, and its band (England-and-Wales working days)

Revision ID: 0007
Revises: 0006

Referral delay is given in calendar days (as the evaluations count it) and in England-and-Wales
working days. Children stored before this revision get theirs here, from their `identified_on` and
`received_on` with the fold's own functions (`ictg_common.clock.working_days_between`,
`referral_delay_band`), so no rebuild is needed; a rebuild computes the same values.
"""

import sqlalchemy as sa
from alembic import op

from ictg_common.clock import working_days_between
from ictg_metrics.children.referral import referral_delay_band

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = ("child", "child_next")  # child_next: a rebuild's table left behind (it is dropped by the next one)
BATCH = 5_000

_PAGE = sa.text(
    "SELECT child_id, identified_on, received_on FROM metrics.child "
    "WHERE received_on IS NOT NULL AND identified_on IS NOT NULL AND (CAST(:after AS uuid) IS NULL OR child_id > :after) "
    "ORDER BY child_id LIMIT :limit"
)
_UPDATE = sa.text(
    "UPDATE metrics.child SET referral_delay_working_days = :days, referral_delay_working_days_band = :band "
    "WHERE child_id = :child_id"
)


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        if not sa.inspect(bind).has_table(table, schema="metrics"):
            continue
        op.add_column(table, sa.Column("referral_delay_working_days", sa.Integer(), nullable=True), schema="metrics")
        op.add_column(table, sa.Column("referral_delay_working_days_band", sa.Text(), nullable=True), schema="metrics")
    # Fill the existing children, a page at a time (keyset on child_id), one executemany per page.
    after = None
    while True:
        rows = bind.execute(_PAGE, {"after": after, "limit": BATCH}).all()
        if not rows:
            break
        updates = []
        for child_id, identified_on, received_on in rows:
            days = working_days_between(identified_on, received_on)
            updates.append({"child_id": child_id, "days": days, "band": referral_delay_band(days)})
        bind.execute(_UPDATE, updates)
        after = rows[-1].child_id


def downgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        if sa.inspect(bind).has_table(table, schema="metrics"):
            op.drop_column(table, "referral_delay_working_days_band", schema="metrics")
            op.drop_column(table, "referral_delay_working_days", schema="metrics")

"""the referrer's own reference, and what the referrer may know of the case (status and dates)

A first responder files a referral and heard nothing back. Now a referral keeps the referrer's own
reference (`referrer_reference`, searchable by the referring organisation) and, learnt from the case
API's events (no personal data), the case's id, when it opened, was first allocated and exited, and
whether a guardian is allocated now (`allocated`, as of `allocation_changed_at`: a pathway change
can take the guardian off).
Intake consumes those events, so it gets an inbox and a dead-letter table like the other services.
`ix_referral_org` also orders by receipt, for the referrer's own list.

Referrals stored before this revision learn their status from the case events still in the stream
(the new `intake-case-status` durable consumer reads the stream from its start); until it has, they
show `received`.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SCHEMA = "intake"


def upgrade() -> None:
    op.add_column("referral", sa.Column("referrer_reference", sa.String(length=50), nullable=True), schema=SCHEMA)
    op.add_column("referral", sa.Column("case_id", sa.UUID(), nullable=True), schema=SCHEMA)
    for column in ("case_opened_at", "allocated_at", "allocation_changed_at", "exited_at"):
        op.add_column("referral", sa.Column(column, sa.DateTime(timezone=True), nullable=True), schema=SCHEMA)
    op.add_column(
        "referral", sa.Column("allocated", sa.Boolean(), server_default=sa.false(), nullable=False), schema=SCHEMA
    )
    op.drop_index("ix_referral_org", table_name="referral", schema=SCHEMA)
    op.create_index("ix_referral_org", "referral", ["org_type", "org_name", "received_at", "id"], schema=SCHEMA)
    op.create_index(
        "ix_referral_org_reference",
        "referral",
        ["org_type", "org_name", sa.text("lower(referrer_reference)")],
        schema=SCHEMA,
    )
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_inbox")),
        schema=SCHEMA,
    )
    op.create_table(
        "dead_letter",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letter")),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("dead_letter", schema=SCHEMA)
    op.drop_table("inbox", schema=SCHEMA)
    op.drop_index("ix_referral_org_reference", table_name="referral", schema=SCHEMA)
    op.drop_index("ix_referral_org", table_name="referral", schema=SCHEMA)
    op.create_index("ix_referral_org", "referral", ["org_type", "org_name"], schema=SCHEMA)
    for column in (
        "allocated",
        "exited_at",
        "allocation_changed_at",
        "allocated_at",
        "case_opened_at",
        "case_id",
        "referrer_reference",
    ):
        op.drop_column("referral", column, schema=SCHEMA)

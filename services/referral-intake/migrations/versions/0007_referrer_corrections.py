"""the referrer corrects and withdraws its referral

A referral gains a `version` (its `ETag`, bumped by every correction or withdrawal: `PATCH
/v1/referrals/{id}` and `POST …/withdraw` require `If-Match`), when it was last corrected, and its
withdrawal (when, why, and the referrer's free-text detail, which stays here: the event carries the
reason only). Existing referrals start at version 1, never corrected nor withdrawn.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SCHEMA = "intake"


def upgrade() -> None:
    op.add_column("referral", sa.Column("version", sa.Integer(), server_default="1", nullable=False), schema=SCHEMA)
    op.add_column("referral", sa.Column("amended_at", sa.DateTime(timezone=True), nullable=True), schema=SCHEMA)
    op.add_column("referral", sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True), schema=SCHEMA)
    op.add_column("referral", sa.Column("withdrawal_reason", sa.String(length=20), nullable=True), schema=SCHEMA)
    op.add_column("referral", sa.Column("withdrawal_detail", sa.String(length=500), nullable=True), schema=SCHEMA)


def downgrade() -> None:
    for column in ("withdrawal_detail", "withdrawal_reason", "withdrawn_at", "amended_at", "version"):
        op.drop_column("referral", column, schema=SCHEMA)

"""The referrer's corrections and withdrawals, as the case follows them

- `referral_amendment`: one row per `referral.amended` (the names of the fields changed, never values);
  the case's `personal` is re-read from intake with it.
- `referral_withdrawal`: one row per `referral.withdrawn` (reason, the referrer's detail from intake,
  whether the case exited for it), and on the case `referral_withdrawn_at` / `referral_withdrawal_reason`,
  what the guardian sees on the case itself.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SCHEMA = "cases"


def _record(name: str, *columns: sa.Column) -> None:  # type: ignore[type-arg]
    op.create_table(
        name,
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        *columns,
        sa.ForeignKeyConstraint(["case_id"], [f"{SCHEMA}.case.id"], name=op.f(f"fk_{name}_case_id_case")),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        schema=SCHEMA,
    )
    op.create_index(op.f(f"ix_{SCHEMA}_{name}_case_id"), name, ["case_id"], unique=False, schema=SCHEMA)


def upgrade() -> None:
    op.add_column("case", sa.Column("referral_withdrawn_at", sa.DateTime(timezone=True), nullable=True), schema=SCHEMA)
    op.add_column("case", sa.Column("referral_withdrawal_reason", sa.String(length=20), nullable=True), schema=SCHEMA)
    _record(
        "referral_amendment",
        sa.Column("amended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fields", postgresql.ARRAY(sa.String(length=100)), nullable=False),
    )
    _record(
        "referral_withdrawal",
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.Column("case_exited", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    for name in ("referral_withdrawal", "referral_amendment"):
        op.drop_index(op.f(f"ix_{SCHEMA}_{name}_case_id"), table_name=name, schema=SCHEMA)
        op.drop_table(name, schema=SCHEMA)
    op.drop_column("case", "referral_withdrawal_reason", schema=SCHEMA)
    op.drop_column("case", "referral_withdrawn_at", schema=SCHEMA)

"""cases: one NHS number may stand on two cases until the ICTG service has reviewed them

Revision ID: 0010
Revises: 0009

The exclusion constraint `ex_local_identifier_nhs_number` (one NHS number on one case only) made the
case API answer a council 409 for a number already filed on a child it cannot see: any council could try
NHS numbers on a child of its own and learn which children had been referred to the service anywhere. A
council is now refused only a number on a case it can see (its own); otherwise the number is filed as asked
and the service is told to review the two cases (audit action `identifiers.nhs_number_shared`). So the
number is no longer unique in the table: `ix_local_identifier_nhs_number` finds its holders.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SCHEMA = "cases"


def upgrade() -> None:
    op.drop_constraint("ex_local_identifier_nhs_number", "local_identifier", schema=SCHEMA)
    op.create_index(
        "ix_local_identifier_nhs_number", "local_identifier", ["nhs_number"],
        postgresql_where=sa.text("nhs_number IS NOT NULL"), schema=SCHEMA,
    )  # fmt: skip


def downgrade() -> None:
    # Fails, naming the conflict, if the service has not yet resolved a number filed on two cases.
    op.drop_index("ix_local_identifier_nhs_number", table_name="local_identifier", schema=SCHEMA)
    op.create_exclude_constraint(
        "ex_local_identifier_nhs_number", "local_identifier", ("nhs_number", "="), ("case_id", "<>"),
        using="gist", schema=SCHEMA,
    )  # fmt: skip

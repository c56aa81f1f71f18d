"""Local identifiers: looked after, the council's own date of birth, and uniqueness the database keeps

Revision ID: 0006
Revises: 0005

- `looked_after` (false for identifiers filed before) and `date_of_birth` (the council's own record,
  used in its exports when the service has only an estimated age).
- `uq_local_identifier_la_child_id`: one authority's child id (upper-cased, as SSDA903 reads it) on one
  child only.
- `ex_local_identifier_nhs_number`: one NHS number on one case only (several councils may file it for
  the same child): an exclusion constraint (`btree_gist`, a trusted extension shipped with Postgres).
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SCHEMA = "cases"


def upgrade() -> None:
    # Ships with Postgres (contrib); creating it needs CREATE on the database (owner or superuser).
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.add_column(
        "local_identifier",
        sa.Column("looked_after", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        schema=SCHEMA,
    )
    op.add_column("local_identifier", sa.Column("date_of_birth", sa.Date(), nullable=True), schema=SCHEMA)
    op.create_index(
        "uq_local_identifier_la_child_id", "local_identifier", ["local_authority_code", sa.text("upper(la_child_id)")],
        unique=True, schema=SCHEMA,
    )  # fmt: skip
    op.create_exclude_constraint(
        "ex_local_identifier_nhs_number", "local_identifier", ("nhs_number", "="), ("case_id", "<>"),
        using="gist", schema=SCHEMA,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_constraint("ex_local_identifier_nhs_number", "local_identifier", schema=SCHEMA)
    op.drop_index("uq_local_identifier_la_child_id", table_name="local_identifier", schema=SCHEMA)
    op.drop_column("local_identifier", "date_of_birth", schema=SCHEMA)
    op.drop_column("local_identifier", "looked_after", schema=SCHEMA)
    # btree_gist stays: another schema of the database may use it.

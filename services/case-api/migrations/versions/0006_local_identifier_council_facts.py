"""Local identifiers: looked after, the council's own date of birth, and uniqueness the database keeps

Revision ID: 0006
Revises: 0005

- `looked_after` (false for identifiers filed before) and `date_of_birth` (the council's own record,
  used in its exports when the service has only an estimated age).
- `uq_local_identifier_la_child_id`: one authority's child id (upper-cased, as SSDA903 reads it) on one
  child only.
- `ex_local_identifier_nhs_number`: one NHS number on one case only (several councils may file it for
  the same child): an exclusion constraint (`btree_gist`, a trusted extension shipped with Postgres).

Identifiers already filed for two children stop the migration, named (`DUPLICATES`).
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SCHEMA = "cases"


# Identifiers filed twice before the application refused them: the constraints cannot be built over them, and
# which child is right is for the councils and the service to decide, so the migration stops and names them.
DUPLICATES = """
SELECT 'la_child_id ' || local_authority_code || ' ' || upper(la_child_id), array_agg(case_id::text)
FROM cases.local_identifier GROUP BY local_authority_code, upper(la_child_id) HAVING count(*) > 1
UNION ALL
SELECT 'nhs_number ' || nhs_number, array_agg(DISTINCT case_id::text)
FROM cases.local_identifier WHERE nhs_number IS NOT NULL GROUP BY nhs_number HAVING count(DISTINCT case_id) > 1
"""


def upgrade() -> None:
    found = op.get_bind().execute(sa.text(DUPLICATES)).all()
    if found:
        named = "; ".join(f"{what}: cases {', '.join(cases)}" for what, cases in found)
        raise RuntimeError(f"identifiers filed for more than one child; correct them before this migration: {named}")
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

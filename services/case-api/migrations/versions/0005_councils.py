"""Councils: responsibility periods, change stamps for the change feed, local identifiers

Revision ID: 0005
Revises: 0004

- `responsibility_period`: one row per stretch of a local authority's responsibility for a child,
  back-filled from each case's referral and its moves.
- `case.change_xid` / `case.changed_at` and the same on periods, stamped by trigger `stamp_change` on
  every insert and update; an update of a case also stamps its open period, so a council's feed moves
  only while the child is its own.
- `local_identifier`: a council's own ids for a child.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

STAMP = [
    """CREATE FUNCTION cases.stamp_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.change_xid := pg_current_xact_id()::text::bigint;
    NEW.changed_at := now();
    RETURN NEW;
END $$""",
    """CREATE FUNCTION cases.touch_open_period() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE cases.responsibility_period SET changed_at = NEW.changed_at WHERE case_id = NEW.id AND ends_at IS NULL;
    RETURN NULL;
END $$""",
    'CREATE TRIGGER stamp_change BEFORE INSERT OR UPDATE ON cases."case" '
    "FOR EACH ROW EXECUTE FUNCTION cases.stamp_change()",
    "CREATE TRIGGER stamp_change BEFORE INSERT OR UPDATE ON cases.responsibility_period "
    "FOR EACH ROW EXECUTE FUNCTION cases.stamp_change()",
    'CREATE TRIGGER touch_open_period AFTER UPDATE ON cases."case" '
    "FOR EACH ROW EXECUTE FUNCTION cases.touch_open_period()",
]

BACKFILL = [
    """INSERT INTO cases.responsibility_period (id, case_id, local_authority_code, region, starts_at, ends_at)
SELECT gen_random_uuid(), case_id, local_authority_code, region, starts_at,
       lead(starts_at) OVER (PARTITION BY case_id ORDER BY starts_at, seq, record_id)
FROM (
    SELECT c.id AS case_id, c.attributes->>'local_authority_code' AS local_authority_code,
           c.attributes->>'region' AS region, c.received_at AS starts_at, 0 AS seq, c.id AS record_id
    FROM cases."case" c
    UNION ALL
    SELECT m.case_id, m.local_authority_code, m.region, m.moved_at, 1, m.id FROM cases.move m
) AS stretch""",
    'UPDATE cases."case" SET version = version',
]


def upgrade() -> None:
    op.add_column("case", sa.Column("change_xid", sa.BigInteger(), nullable=True), schema="cases")
    op.add_column("case", sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True), schema="cases")
    op.create_index("ix_case_change", "case", ["change_xid", "id"], unique=False, schema="cases")
    op.create_table(
        "responsibility_period",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("local_authority_code", sa.String(length=9), nullable=False),
        sa.Column("region", sa.String(length=40), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("change_xid", sa.BigInteger(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.case.id"], name=op.f("fk_responsibility_period_case_id_case"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_responsibility_period")),
        schema="cases",
    )
    op.create_index(
        op.f("ix_cases_responsibility_period_case_id"), "responsibility_period", ["case_id"], unique=False,
        schema="cases",
    )  # fmt: skip
    op.create_index(
        "ix_responsibility_period_la_change", "responsibility_period", ["local_authority_code", "change_xid"],
        unique=False, schema="cases",
    )  # fmt: skip
    op.create_table(
        "local_identifier",
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("local_authority_code", sa.String(length=9), nullable=False),
        sa.Column("la_child_id", sa.String(length=10), nullable=False),
        sa.Column("upn", sa.String(length=13), nullable=True),
        sa.Column("nhs_number", sa.String(length=10), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.case.id"], name=op.f("fk_local_identifier_case_id_case"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("case_id", "local_authority_code", name=op.f("pk_local_identifier")),
        schema="cases",
    )
    for statement in [*STAMP, *BACKFILL]:
        op.execute(statement)


def downgrade() -> None:
    op.execute('DROP TRIGGER touch_open_period ON cases."case"')
    op.execute('DROP TRIGGER stamp_change ON cases."case"')
    op.drop_table("local_identifier", schema="cases")
    op.drop_index("ix_responsibility_period_la_change", table_name="responsibility_period", schema="cases")
    op.drop_index(op.f("ix_cases_responsibility_period_case_id"), table_name="responsibility_period", schema="cases")
    op.drop_table("responsibility_period", schema="cases")
    op.execute("DROP FUNCTION cases.touch_open_period()")
    op.execute("DROP FUNCTION cases.stamp_change()")
    op.drop_index("ix_case_change", table_name="case", schema="cases")
    op.drop_column("case", "changed_at", schema="cases")
    op.drop_column("case", "change_xid", schema="cases")

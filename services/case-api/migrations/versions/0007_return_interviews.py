"""Return home interviews: one per missing episode, and the `return_interview` deadline clock

Revision ID: 0007
Revises: 0006

- `return_interview`: the interview offered (or not) after a missing episode ended; unique per episode.
- `missing_episode.return_interview_due_by`: 72 hours after the return, set when a return is recorded. Not
  back-filled: returns recorded before the clock existed owe no `sla.breached`.
- `sla_breach.episode_id`, and its unique key (case, clock, episode) with nulls not distinct: once per
  case for the case clocks, once per episode for `return_interview`.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "missing_episode", sa.Column("return_interview_due_by", sa.DateTime(timezone=True), nullable=True),
        schema="cases",
    )  # fmt: skip
    op.create_table(
        "return_interview",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("episode_id", sa.UUID(), nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("conducted_by", sa.String(length=30), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("within_72h", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.case.id"], name=op.f("fk_return_interview_case_id_case")),
        sa.ForeignKeyConstraint(
            ["episode_id"], ["cases.missing_episode.id"], name=op.f("fk_return_interview_episode_id_missing_episode")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_return_interview")),
        sa.UniqueConstraint("episode_id", name=op.f("uq_return_interview_episode_id")),
        schema="cases",
    )
    op.create_index(
        op.f("ix_cases_return_interview_case_id"), "return_interview", ["case_id"], unique=False, schema="cases"
    )
    op.add_column("sla_breach", sa.Column("episode_id", sa.UUID(), nullable=True), schema="cases")
    op.create_foreign_key(
        op.f("fk_sla_breach_episode_id_missing_episode"), "sla_breach", "missing_episode", ["episode_id"], ["id"],
        source_schema="cases", referent_schema="cases",
    )  # fmt: skip
    op.drop_constraint(op.f("uq_sla_breach_case_id"), "sla_breach", schema="cases", type_="unique")
    op.create_unique_constraint(
        op.f("uq_sla_breach_case_id"), "sla_breach", ["case_id", "clock", "episode_id"], schema="cases",
        postgresql_nulls_not_distinct=True,
    )  # fmt: skip


def downgrade() -> None:
    op.execute("DELETE FROM cases.sla_breach WHERE episode_id IS NOT NULL")
    op.drop_constraint(op.f("uq_sla_breach_case_id"), "sla_breach", schema="cases", type_="unique")
    op.create_unique_constraint(op.f("uq_sla_breach_case_id"), "sla_breach", ["case_id", "clock"], schema="cases")
    op.drop_constraint(
        op.f("fk_sla_breach_episode_id_missing_episode"), "sla_breach", schema="cases", type_="foreignkey"
    )
    op.drop_column("sla_breach", "episode_id", schema="cases")
    op.drop_index(op.f("ix_cases_return_interview_case_id"), table_name="return_interview", schema="cases")
    op.drop_table("return_interview", schema="cases")
    op.drop_column("missing_episode", "return_interview_due_by", schema="cases")

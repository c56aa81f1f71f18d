"""each referral name carries the child's nationality, date of birth and estimated age, indexed with the name

Duplicate matching read every referral of the child's nationality (a third of all referrals, in
the national benchmark) to find those of the same date of birth or age, before looking at their
names through the trigram index: 35-75 ms a referral among 100,000. Now `referral_name` carries
the referral's nationality, date of birth and estimated age (a referral's are never changed), and
two GiST indexes lead with them before the name's trigrams (`btree_gist`, like `pg_trgm` a trusted
extension shipped with Postgres), one for children with a date of birth and one for those with an
estimated age, so that one index scan reads only the similar names of the right children. The index
of the name alone is dropped: no query reads it any more.

Existing names are backfilled from their referral.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SCHEMA = "intake"


def upgrade() -> None:
    # Ships with Postgres (contrib); creating it needs CREATE on the database (owner or superuser).
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.add_column("referral_name", sa.Column("nationality", sa.String(length=10), nullable=True), schema=SCHEMA)
    op.add_column("referral_name", sa.Column("date_of_birth", sa.Date(), nullable=True), schema=SCHEMA)
    op.add_column("referral_name", sa.Column("estimated_age", sa.Integer(), nullable=True), schema=SCHEMA)
    op.execute(
        "UPDATE intake.referral_name n SET nationality = r.nationality, date_of_birth = r.date_of_birth, "
        "estimated_age = r.estimated_age FROM intake.referral r WHERE r.id = n.referral_id"
    )
    op.alter_column("referral_name", "nationality", nullable=False, schema=SCHEMA)
    op.drop_index("ix_referral_name_trgm", table_name="referral_name", schema=SCHEMA)
    op.create_index(
        "ix_referral_name_dob_trgm",
        "referral_name",
        ["nationality", "date_of_birth", "name_key"],
        unique=False,
        schema=SCHEMA,
        postgresql_using="gist",
        postgresql_ops={"name_key": "gist_trgm_ops"},
        postgresql_where=sa.text("date_of_birth IS NOT NULL"),
    )
    op.create_index(
        "ix_referral_name_age_trgm",
        "referral_name",
        ["nationality", "estimated_age", "name_key"],
        unique=False,
        schema=SCHEMA,
        postgresql_using="gist",
        postgresql_ops={"name_key": "gist_trgm_ops"},
        postgresql_where=sa.text("estimated_age IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_referral_name_age_trgm", table_name="referral_name", schema=SCHEMA)
    op.drop_index("ix_referral_name_dob_trgm", table_name="referral_name", schema=SCHEMA)
    op.create_index(
        "ix_referral_name_trgm",
        "referral_name",
        ["name_key"],
        unique=False,
        schema=SCHEMA,
        postgresql_using="gist",
        postgresql_ops={"name_key": "gist_trgm_ops"},
    )
    for column in ("estimated_age", "date_of_birth", "nationality"):
        op.drop_column("referral_name", column, schema=SCHEMA)
    # btree_gist stays: another schema of the database may use it.

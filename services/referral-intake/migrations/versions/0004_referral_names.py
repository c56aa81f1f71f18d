"""every name of a referral in `referral_name`, behind a trigram index (pg_trgm), for duplicate matching

Duplicates were found by loading up to 200 referrals of the same nationality and age and comparing
names in Python: a true duplicate beyond the 200th was missed, and `other_names` were never
compared. Now each name of a referral (given and family name, and each other name) is a row here,
and the candidates are found in SQL through the trigram index (GiST), without a cap.

Existing referrals are backfilled: the stored `name_key` (given and family name), and each other
name from the stored body, normalised as `ictg_intake.referrals.service.name_key` did at this
revision (a copy below: a migration must not change when the service's code does).

Revision ID: 0004
Revises: 0003
"""

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _name_key(name: str) -> str:
    ascii_ = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return " ".join(sorted("".join(c if c.isalnum() else " " for c in ascii_).split()))[:200]


def upgrade() -> None:
    # Ships with Postgres (contrib); creating it needs CREATE on the database (owner or superuser).
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "referral_name",
        sa.Column("referral_id", sa.UUID(), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["intake.referral.id"],
            name=op.f("fk_referral_name_referral_id_referral"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("referral_id", "name_key", name=op.f("pk_referral_name")),
        schema="intake",
    )
    op.create_index(
        "ix_referral_name_trgm",
        "referral_name",
        ["name_key"],
        unique=False,
        schema="intake",
        postgresql_using="gist",
        postgresql_ops={"name_key": "gist_trgm_ops"},
    )
    op.execute("INSERT INTO intake.referral_name (referral_id, name_key) SELECT id, name_key FROM intake.referral")
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT id, body -> 'child' -> 'other_names' AS other_names FROM intake.referral "
            "WHERE jsonb_array_length(coalesce(body -> 'child' -> 'other_names', '[]')) > 0"
        )
    ).all()
    names = {(r.id, key) for r in rows for other in r.other_names if (key := _name_key(other))}
    if names:
        conn.execute(
            sa.text(
                "INSERT INTO intake.referral_name (referral_id, name_key) VALUES (:id, :key) ON CONFLICT DO NOTHING"
            ),
            [{"id": i, "key": k} for i, k in sorted(names)],
        )


def downgrade() -> None:
    op.drop_index("ix_referral_name_trgm", table_name="referral_name", schema="intake")
    op.drop_table("referral_name", schema="intake")
    # pg_trgm stays: another schema of the database may use it.

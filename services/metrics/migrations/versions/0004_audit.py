"""audit trail of metrics (admin actions, unperturbed queries), append-only like the others

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("org", sa.String(length=400), nullable=True),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("resource", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=50), nullable=False),
        sa.Column("request_id", sa.String(length=100), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit")),
        schema="metrics",
    )
    op.create_index("ix_audit_resource", "audit", ["resource"], unique=False, schema="metrics")
    op.execute(
        """
        CREATE FUNCTION metrics.audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit trail is append-only (% refused)', TG_OP;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON metrics.audit "
        "FOR EACH STATEMENT EXECUTE FUNCTION metrics.audit_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_append_only ON metrics.audit")
    op.execute("DROP FUNCTION metrics.audit_append_only()")
    op.drop_index("ix_audit_resource", table_name="audit", schema="metrics")
    op.drop_table("audit", schema="metrics")

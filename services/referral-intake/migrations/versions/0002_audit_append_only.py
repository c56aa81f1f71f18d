"""audit is append-only: no UPDATE, DELETE or TRUNCATE, whoever asks

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION intake.audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit trail is append-only (% refused)', TG_OP;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON intake.audit "
        "FOR EACH STATEMENT EXECUTE FUNCTION intake.audit_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_append_only ON intake.audit")
    op.execute("DROP FUNCTION intake.audit_append_only()")

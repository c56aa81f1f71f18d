"""audit is append-only: no UPDATE, DELETE or TRUNCATE, whoever asks

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION cases.audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit trail is append-only (% refused)', TG_OP;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON cases.audit "
        "FOR EACH STATEMENT EXECUTE FUNCTION cases.audit_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_append_only ON cases.audit")
    op.execute("DROP FUNCTION cases.audit_append_only()")

"""webhooks: subscriptions, stored events, case periods, deliveries and attempts; outbox, inbox, audit

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
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
        schema="webhooks",
    )
    op.create_index("ix_audit_resource", "audit", ["resource"], unique=False, schema="webhooks")
    op.create_table(
        "case_period",
        sa.Column("case_id", sa.UUID(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("local_authority_code", sa.String(length=9), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "starts_at", name=op.f("pk_case_period")),
        schema="webhooks",
    )
    op.create_table(
        "dead_letter",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letter")),
        schema="webhooks",
    )
    op.create_table(
        "event",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("local_authority_codes", postgresql.ARRAY(sa.String(length=9)), nullable=False),
        sa.Column("body", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event")),
        schema="webhooks",
    )
    op.create_index("ix_event_received_at", "event", ["received_at"], unique=False, schema="webhooks")
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_inbox")),
        schema="webhooks",
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        schema="webhooks",
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["id"],
        unique=False,
        schema="webhooks",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "subscription",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("org_type", sa.String(length=40), nullable=False),
        sa.Column("org_name", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("event_types", postgresql.ARRAY(sa.String(length=100)), nullable=False),
        sa.Column("local_authority_codes", postgresql.ARRAY(sa.String(length=9)), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=40), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("previous_secret", sa.String(length=100), nullable=True),
        sa.Column("previous_secret_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription")),
        schema="webhooks",
    )
    op.create_index("ix_subscription_org", "subscription", ["org_type", "org_name"], unique=False, schema="webhooks")
    op.create_table(
        "delivery",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("subscription_id", sa.UUID(), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["webhooks.event.id"], name=op.f("fk_delivery_event_id_event")),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhooks.subscription.id"],
            name=op.f("fk_delivery_subscription_id_subscription"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery")),
        sa.UniqueConstraint("subscription_id", "event_id", name=op.f("uq_delivery_subscription_id")),
        schema="webhooks",
    )
    op.create_index(
        "ix_delivery_due",
        "delivery",
        ["next_attempt_at"],
        unique=False,
        schema="webhooks",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_delivery_subscription", "delivery", ["subscription_id", "created_at"], unique=False, schema="webhooks"
    )
    op.create_index(
        "ix_delivery_leased", "delivery", ["subscription_id"], unique=False, schema="webhooks",
        postgresql_where=sa.text("status = 'pending' AND lease_until IS NOT NULL"),
    )  # fmt: skip
    op.create_table(
        "attempt",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("delivery_id", sa.UUID(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["webhooks.delivery.id"], name=op.f("fk_attempt_delivery_id_delivery"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attempt")),
        schema="webhooks",
    )
    op.create_index(
        op.f("ix_webhooks_attempt_delivery_id"), "attempt", ["delivery_id"], unique=False, schema="webhooks"
    )
    op.execute(
        """
        CREATE FUNCTION webhooks.audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit trail is append-only (% refused)', TG_OP;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON webhooks.audit "
        "FOR EACH STATEMENT EXECUTE FUNCTION webhooks.audit_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_append_only ON webhooks.audit")
    op.execute("DROP FUNCTION webhooks.audit_append_only()")
    op.drop_index(op.f("ix_webhooks_attempt_delivery_id"), table_name="attempt", schema="webhooks")
    op.drop_table("attempt", schema="webhooks")
    op.drop_index("ix_delivery_leased", table_name="delivery", schema="webhooks")
    op.drop_index("ix_delivery_subscription", table_name="delivery", schema="webhooks")
    op.drop_index(
        "ix_delivery_due", table_name="delivery", schema="webhooks", postgresql_where=sa.text("status = 'pending'")
    )
    op.drop_table("delivery", schema="webhooks")
    op.drop_index("ix_subscription_org", table_name="subscription", schema="webhooks")
    op.drop_table("subscription", schema="webhooks")
    op.drop_index(
        "ix_outbox_unpublished",
        table_name="outbox",
        schema="webhooks",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_table("outbox", schema="webhooks")
    op.drop_table("inbox", schema="webhooks")
    op.drop_index("ix_event_received_at", table_name="event", schema="webhooks")
    op.drop_table("event", schema="webhooks")
    op.drop_table("dead_letter", schema="webhooks")
    op.drop_table("case_period", schema="webhooks")
    op.drop_index("ix_audit_resource", table_name="audit", schema="webhooks")
    op.drop_table("audit", schema="webhooks")

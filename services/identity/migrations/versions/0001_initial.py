"""identity: clients, their secrets, signing keys, used client assertions; audit

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

S = "identity"


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
        schema=S,
    )
    op.create_index("ix_audit_resource", "audit", ["resource"], unique=False, schema=S)
    op.create_table(
        "client",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("org_type", sa.String(length=40), nullable=False),
        sa.Column("org_name", sa.String(length=200), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.String(length=60)), nullable=False),
        sa.Column("regions", postgresql.ARRAY(sa.String(length=60)), nullable=False),
        sa.Column("la_codes", postgresql.ARRAY(sa.String(length=9)), nullable=False),
        sa.Column("auth_method", sa.String(length=30), nullable=False),
        sa.Column("jwks", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("service", sa.String(length=60), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_client")),
        schema=S,
    )
    op.create_index("ix_client_org", "client", ["org_type", "org_name"], unique=False, schema=S)
    op.create_table(
        "client_secret",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], [f"{S}.client.client_id"], name=op.f("fk_client_secret_client_id_client"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_secret")),
        schema=S,
    )
    op.create_index(op.f("ix_client_secret_client_id"), "client_secret", ["client_id"], unique=False, schema=S)
    op.create_table(
        "signing_key",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("private_jwk", sa.Text(), nullable=False),
        sa.Column("public_jwk", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_key")),
        schema=S,
    )
    op.create_table(
        "used_assertion",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("jti", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "jti", name=op.f("pk_used_assertion")),
        schema=S,
    )
    op.create_index(op.f("ix_used_assertion_expires_at"), "used_assertion", ["expires_at"], unique=False, schema=S)


def downgrade() -> None:
    for name in ("used_assertion", "signing_key", "client_secret", "client", "audit"):
        op.drop_table(name, schema=S)

"""identity: two indexes renamed to the naming convention's names (`ix_identity_<table>_<column>`), so the
schema the migrations build is the one the models describe

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

RENAMED = (("ix_client_secret_client_id", "ix_identity_client_secret_client_id"),
           ("ix_used_assertion_expires_at", "ix_identity_used_assertion_expires_at"))  # fmt: skip


def upgrade() -> None:
    for old, new in RENAMED:
        op.execute(f"ALTER INDEX identity.{old} RENAME TO {new}")


def downgrade() -> None:
    for old, new in RENAMED:
        op.execute(f"ALTER INDEX identity.{new} RENAME TO {old}")

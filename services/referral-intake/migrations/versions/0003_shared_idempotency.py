"""idempotency keys as the shared mechanism keeps them (ictg_common.idempotency)

The fingerprint now covers method, path and body (it was the body alone), the replayed headers are
an object (it was `location` alone), and the response is `json`, kept as written. Keys stored
before stay valid: their fingerprint is rebuilt from the stored body hash (so a retry straddling
the upgrade is still recognised when its body is written as the stored one was) and their
`location` moves into `headers`.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("idempotency_key", "request_hash", new_column_name="fingerprint", schema="intake")
    # ictg_common.idempotency.fingerprint: sha256 of "<METHOD> <path>\n<sha256 of the canonical body>".
    op.execute(
        "UPDATE intake.idempotency_key SET fingerprint = "
        "encode(sha256(convert_to('POST /v1/referrals' || chr(10) || fingerprint, 'UTF8')), 'hex')"
    )
    op.add_column("idempotency_key", sa.Column("headers", postgresql.JSON(), nullable=True), schema="intake")
    op.execute("UPDATE intake.idempotency_key SET headers = json_build_object('Location', location)")
    op.alter_column("idempotency_key", "headers", nullable=False, schema="intake")
    op.drop_column("idempotency_key", "location", schema="intake")
    op.alter_column(
        "idempotency_key", "response", type_=postgresql.JSON(), postgresql_using="response::json", schema="intake"
    )


def downgrade() -> None:
    # Fingerprints cannot be turned back into body hashes: a retry of a key stored since the upgrade
    # is refused with 422 by the old code (never applied twice).
    op.alter_column(
        "idempotency_key",
        "response",
        type_=postgresql.JSONB(astext_type=sa.Text()),
        postgresql_using="response::jsonb",
        schema="intake",
    )
    op.add_column("idempotency_key", sa.Column("location", sa.Text(), nullable=True), schema="intake")
    op.execute("UPDATE intake.idempotency_key SET location = coalesce(headers ->> 'Location', '')")
    op.alter_column("idempotency_key", "location", nullable=False, schema="intake")
    op.drop_column("idempotency_key", "headers", schema="intake")
    op.alter_column("idempotency_key", "fingerprint", new_column_name="request_hash", schema="intake")

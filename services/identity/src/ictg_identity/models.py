"""Tables of schema `identity`: clients, their hashed secrets, the signing keys, used assertion ids."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from ictg_common.audit import audit_table
from ictg_common.db import make_base
from ictg_common.ratelimit import rate_limit_table

SCHEMA = "identity"
Model = make_base(SCHEMA)
audit = audit_table(Model.metadata)
rate_limit = rate_limit_table(Model.metadata)  # the rate limits' buckets, shared by replicas

When = DateTime(timezone=True)


class Client(Model):  # type: ignore[valid-type, misc]
    """A machine client of one organisation: what its tokens say and how it authenticates."""

    __tablename__ = "client"
    __table_args__ = (Index("ix_client_org", "org_type", "org_name"),)

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    org_type: Mapped[str] = mapped_column(String(40))
    org_name: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(60)))
    regions: Mapped[list[str]] = mapped_column(ARRAY(String(60)))
    la_codes: Mapped[list[str]] = mapped_column(ARRAY(String(9)))
    # client_secret_basic or private_key_jwt (then `jwks` holds its public keys).
    auth_method: Mapped[str] = mapped_column(String(30))
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # A platform service's name (its tokens carry `ictg_service` and sub `service:<name>`), else null.
    service: Mapped[str | None] = mapped_column(String(60))
    created_at: Mapped[datetime] = mapped_column(When)
    created_by: Mapped[str] = mapped_column(String(200))
    disabled_at: Mapped[datetime | None] = mapped_column(When)


class ClientSecret(Model):  # type: ignore[valid-type, misc]
    """A client's secret, as its SHA-256 digest; `expires_at` is set when a newer one replaces it."""

    __tablename__ = "client_secret"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("client.client_id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(When)
    expires_at: Mapped[datetime | None] = mapped_column(When)


class SigningKey(Model):  # type: ignore[valid-type, misc]
    """An ES256 signing key: next (not yet activated), current (activated, not retired) or retired."""

    __tablename__ = "signing_key"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_jwk: Mapped[str] = mapped_column(Text)  # encrypted (Fernet, ICTG_IDENTITY_KEY_SECRET)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(When)
    activated_at: Mapped[datetime | None] = mapped_column(When)
    retired_at: Mapped[datetime | None] = mapped_column(When)


class UsedAssertion(Model):  # type: ignore[valid-type, misc]
    """A client assertion's `jti`, kept until the assertion expires: a second use is a replay."""

    __tablename__ = "used_assertion"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(When, index=True)

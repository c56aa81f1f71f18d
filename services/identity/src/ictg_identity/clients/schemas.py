"""What a client registration takes and shows."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ictg_common.inputs import StorableText

AuthMethod = Literal["client_secret_basic", "private_key_jwt"]
# The organisations a client may belong to: the referring organisations' types, councils, the service's own
# staff (`ictg`), and partners (evaluators, government analysts: published statistics only).
ClientOrgType = Literal[
    "police", "local_authority", "border_force", "uk_visas_immigration", "immigration_enforcement",
    "national_crime_agency", "gangmasters_labour_abuse_authority", "health", "ngo", "other", "ictg", "partner",
]  # fmt: skip


class ClientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StorableText = Field(min_length=1, max_length=200, description="What the client is, for people: "
                               "`Kent Police case system`.")  # fmt: skip
    org_type: ClientOrgType = Field(examples=["police"], description="The organisation's type (`police`, "
                                    "`local_authority`, `ngo`, …, `partner`, or `ictg` for the service's own staff): "
                                    "its scopes are capped by the type's ceiling.")  # fmt: skip
    org_name: StorableText = Field(min_length=1, max_length=200, examples=["Kent Police"])
    scopes: list[str] = Field(min_length=1, max_length=20, description="The most its tokens may hold; a token "
                              "request's `scope` narrows them.")  # fmt: skip
    regions: list[str] = Field(default_factory=list, max_length=20, description="Regions (slugs) its tokens carry.")
    la_codes: list[str] = Field(default_factory=list, max_length=20, description="A council's ONS codes "
                                "(`org_type` `local_authority` only, and then at least one).")  # fmt: skip
    auth_method: AuthMethod = Field(default="client_secret_basic", description="`client_secret_basic` (a secret, "
                                    "shown once) or `private_key_jwt` (RFC 7523: a signed assertion, `jwks` holds "
                                    "the client's public keys).")  # fmt: skip
    jwks: dict[str, Any] | None = Field(default=None, description="The client's public JWKS (`private_key_jwt`).")
    service: StorableText | None = Field(default=None, max_length=60, description="A platform service's name "
                                         "(`case-api`): its tokens mark it as one. Staff organisation only.")  # fmt: skip


class ClientOut(BaseModel):
    client_id: str
    name: str
    org_type: str
    org_name: str
    scopes: list[str]
    regions: list[str]
    la_codes: list[str]
    auth_method: AuthMethod
    jwks: dict[str, Any] | None
    service: str | None
    created_at: datetime
    created_by: str
    disabled_at: datetime | None
    secrets: list[SecretOut] = Field(description="Its secrets' dates (never the secrets): the current one, and a "
                                     "replaced one until it expires.")  # fmt: skip


class SecretOut(BaseModel):
    created_at: datetime
    expires_at: datetime | None


class ClientCreated(ClientOut):
    client_secret: str | None = Field(description="Shown this once and stored only hashed (none for "
                                      "`private_key_jwt`).")  # fmt: skip


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    previous_valid_seconds: int | None = Field(default=None, ge=0, le=86400, description="How long the previous "
                                               "secret is still accepted (default 24 hours; 0: not at all, for a "
                                               "secret that leaked).")  # fmt: skip


class KeysIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jwks: dict[str, Any] = Field(description="The client's public JWKS, replacing the one registered: publish the "
                                 "new key here before signing with it, remove the old one after.")  # fmt: skip


class SecretRotated(BaseModel):
    client_id: str
    client_secret: str = Field(description="The new secret, shown this once.")
    previous_expires_at: datetime | None = Field(description="Until when the previous secret is still accepted.")


class ClientList(BaseModel):
    items: list[ClientOut]


ClientOut.model_rebuild()
ClientCreated.model_rebuild()

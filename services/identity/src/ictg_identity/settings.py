"""Settings of the token service (`ICTG_IDENTITY_*`, plus the shared `ICTG_*`)."""

from __future__ import annotations

from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator

from ictg_common.settings import ServiceSettings, service_config

DEV_KEY_SECRET = "dev-only-key-secret-change-me"
DEV_ISSUER = "http://127.0.0.1:8005"


class IdentitySettings(ServiceSettings):
    model_config = service_config("ICTG_IDENTITY_")

    port: int = 8005
    # This service's public address: the `iss` of every token, and where its endpoints are found.
    issuer: str = DEV_ISSUER
    token_seconds: int = Field(default=900, ge=60, le=3600)  # an access token's life
    # Old and new client secrets are both accepted this long after a rotation.
    secret_overlap_seconds: int = Field(default=86400, ge=0)
    # A client assertion (private_key_jwt) may live at most this long (`exp` from now).
    assertion_max_seconds: int = Field(default=300, ge=30, le=3600)
    # Token requests per minute per client, and per address (this process).
    token_rate_per_client: int = Field(default=60, ge=0)
    token_rate_per_address: int = Field(default=300, ge=0)
    # Encrypts the signing keys' private parts at rest (Fernet, a key derived from it).
    key_secret: SecretStr = SecretStr(DEV_KEY_SECRET)

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer.rstrip('/')}/oauth2/token"

    @model_validator(mode="after")
    def _issuer_over_tls(self) -> Self:
        # One spelling everywhere: the tokens' `iss`, the metadata, the services' ICTG_AUTH_ISSUERS.
        self.issuer = self.issuer.rstrip("/")
        if not self.auth_development and self.issuer == DEV_ISSUER:
            raise ValueError("ICTG_IDENTITY_ISSUER (this service's public https URL) is required outside development")
        # OAuth 2.0 runs over TLS; plain http is for loopback, or a development stack (compose) that says so.
        parts = urlsplit(self.issuer)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("ICTG_IDENTITY_ISSUER is this service's public URL, e.g. https://identity.ictg.example")
        loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
        if parts.scheme == "http" and not loopback and not self.auth_development:
            raise ValueError("ICTG_IDENTITY_ISSUER must be https outside development (ICTG_AUTH_DEVELOPMENT=false)")
        return self

    @property
    def plain_http(self) -> bool:
        """Served over plain http beyond loopback (a development stack): Authlib must be told it is allowed."""
        parts = urlsplit(self.issuer)
        return parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1")

    @model_validator(mode="after")
    def _own_key_secret(self) -> Self:
        if not self.auth_development and self.key_secret.get_secret_value() == DEV_KEY_SECRET:
            raise ValueError("ICTG_IDENTITY_KEY_SECRET is required outside development (ICTG_AUTH_DEVELOPMENT=false)")
        return self

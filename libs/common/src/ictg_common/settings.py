"""Settings base: shared `ICTG_` fields plus each service's own prefixed fields.

Each service declares one subclass with `model_config = service_config("ICTG_INTAKE_")`; the shared
fields below keep their `ICTG_` names whatever the service prefix is.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .issuers import IssuerConfig, parse_issuers
from .natsauth import NatsCredentials


def _shared(name: str, default: Any, **kwargs: Any) -> Any:
    # Only the ICTG_ name is read from the environment (a bare DATABASE_URL must not leak in);
    # populate_by_name lets code pass `database_url=` directly.
    return Field(default, validation_alias=f"ICTG_{name.upper()}", **kwargs)


# An episode that lasted (or is open and has lasted) this long is long-term missing: the case API's flag
# and metrics' `long_term_missing` dimension.
LONG_TERM_MISSING_DAYS = 60
DEV_SCRAPE_TOKEN = "dev-only-scrape-token-change-me"


def service_config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, populate_by_name=True, extra="ignore")


class ServiceSettings(BaseSettings):
    """Fields every service reads, from `ICTG_*` environment variables."""

    model_config = service_config("ICTG_")

    database_url: str = _shared("database_url", "postgresql://postgres@127.0.0.1:55432/ictg")
    # One server, or a cluster's, comma-separated (nats://a:4222,nats://b:4222,…): the client moves to
    # another when its own dies.
    nats_url: str = _shared("nats_url", "nats://127.0.0.1:54222")
    # How many servers keep the stream (and the durables, which follow it): 3 on a 3-server cluster. An
    # existing stream on fewer is raised to it; NATS with fewer servers makes no stream (ictg_common.natslink).
    nats_replicas: int = _shared("nats_replicas", 1, ge=1, le=5)
    # This service's own NATS user, read with its own prefix (ICTG_INTAKE_NATS_USER / _PASSWORD, …): it
    # may publish only its own subjects (ictg_common.natsauth). Unset: no credentials (a NATS without
    # authentication, or credentials in ICTG_NATS_URL).
    nats_user: str | None = None
    nats_password: SecretStr | None = None
    # Stream and subject prefix are settings so tests can run isolated streams side by side.
    nats_stream: str = _shared("nats_stream", "ICTG")
    subject_prefix: str = _shared("subject_prefix", "ictg")
    auth_secret: str = _shared("auth_secret", "dev-only-secret-change-me-0123456789abcdef")
    # The issuers whose tokens are accepted, verified against their JWKS (ictg_common.issuers): the
    # platform's token service, and any staff identity provider with its claim mapping.
    auth_issuers: list[IssuerConfig] = _shared("auth_issuers", [])
    # Development mode: HS256 tokens signed with ICTG_AUTH_SECRET are accepted too (`make run`, the
    # tests). Off, only the issuers' asymmetric tokens are, and production's checks apply.
    auth_development: bool = _shared("auth_development", False)
    # The token service's token endpoint, where this service gets its own tokens (client credentials).
    auth_token_url: str | None = _shared("auth_token_url", None)
    # This service's own client at the token service, read with its own prefix (ICTG_CASES_CLIENT_ID, …).
    client_id: str | None = None
    client_secret: SecretStr | None = None
    auth_audience: str = _shared("auth_audience", "ictg")
    # Longest accepted token lifetime (`exp - iat`): a leaked token is useful for at most this long.
    auth_max_token_seconds: int = _shared("auth_max_token_seconds", 24 * 3600, gt=0)
    log_level: str = _shared("log_level", "INFO")
    # Requests per minute per caller, for all of a service's replicas together (0: no limit).
    rate_limit_per_minute: int = _shared("rate_limit_per_minute", 1200)
    # How long a request waits for the shared bucket (a connection and one statement) before it is decided
    # in process instead (`ictg_common.ratelimit`).
    rate_limit_store_timeout_seconds: float = _shared("rate_limit_store_timeout_seconds", 1.0, gt=0)
    max_deliver: int = _shared("max_deliver", 5)
    # One rule for the case API's flag and metrics' dimension: ICTG_LONG_TERM_MISSING_DAYS.
    long_term_missing_days: int = _shared("long_term_missing_days", LONG_TERM_MISSING_DAYS, ge=1)
    # How long the relay sleeps without a NOTIFY before looking at the outbox anyway.
    relay_poll_seconds: float = _shared("relay_poll_seconds", 1.0)
    # GET /metrics reuses its database and JetStream readings this long (concurrent scrapes share one).
    telemetry_reading_seconds: float = _shared("telemetry_reading_seconds", 5.0, ge=0)
    # How long a write's Idempotency-Key is remembered (at least a day, the IETF draft's advice).
    # Per service, read with its own prefix: ICTG_INTAKE_IDEMPOTENCY_HOURS, ICTG_CASES_IDEMPOTENCY_HOURS.
    idempotency_hours: int = Field(default=48, ge=24)
    # The bearer token Prometheus sends to GET /metrics (its counts of exits and moves are figures about
    # children: never open). Required outside development (ICTG_AUTH_DEVELOPMENT=false); the development default
    # is for `make run` and the tests.
    scrape_token: str = _shared("scrape_token", DEV_SCRAPE_TOKEN, min_length=1)

    # Fields holding a fixed token this service sends to another (claim check, reconciliation). Outside
    # development a service calling a peer needs that token or its own client (ICTG_<SVC>_CLIENT_ID and
    # _SECRET, with ICTG_AUTH_TOKEN_URL): a token minted from ICTG_AUTH_SECRET would be refused on every
    # call, so the service refuses to start instead.
    PEER_TOKENS: ClassVar[tuple[str, ...]] = ()

    @property
    def nats_credentials(self) -> NatsCredentials | None:
        """This service's NATS user and password, if it has them."""
        if self.nats_user is None or self.nats_password is None:
            return None
        return NatsCredentials(self.nats_user, self.nats_password.get_secret_value())

    @model_validator(mode="after")
    def _nats_user_and_password(self) -> Self:
        if (self.nats_user is None) != (self.nats_password is None):
            prefix = self.model_config.get("env_prefix", "ICTG_")
            raise ValueError(f"{prefix}NATS_USER and {prefix}NATS_PASSWORD are given together, or neither")
        return self

    @property
    def client_credentials(self) -> tuple[str, str, str] | None:
        """(token URL, client id, secret) of this service's own client, if it has one."""
        if self.client_id is None or self.client_secret is None or self.auth_token_url is None:
            return None
        return (self.auth_token_url, self.client_id, self.client_secret.get_secret_value())

    @model_validator(mode="after")
    def _distinct_issuers(self) -> Self:
        parse_issuers(self.auth_issuers)  # each issuer once
        return self

    @model_validator(mode="after")
    def _client_given_whole(self) -> Self:
        if (self.client_id is None) != (self.client_secret is None):
            prefix = self.model_config.get("env_prefix", "ICTG_")
            raise ValueError(f"{prefix}CLIENT_ID and {prefix}CLIENT_SECRET are given together, or neither")
        if self.client_id is not None and self.auth_token_url is None:
            raise ValueError("ICTG_AUTH_TOKEN_URL is required with a client id (where the service gets its tokens)")
        return self

    @model_validator(mode="after")
    def _peer_tokens_given(self) -> Self:
        if self.auth_development:
            return self
        if self.scrape_token == DEV_SCRAPE_TOKEN:
            raise ValueError("ICTG_SCRAPE_TOKEN is required outside development (ICTG_AUTH_DEVELOPMENT=false)")
        prefix = self.model_config.get("env_prefix", "ICTG_")
        for name in self.PEER_TOKENS:
            if not getattr(self, name) and self.client_credentials is None:
                raise ValueError(
                    f"{prefix}{name.upper()}, or {prefix}CLIENT_ID and {prefix}CLIENT_SECRET with ICTG_AUTH_TOKEN_URL, "
                    "are required outside development (ICTG_AUTH_DEVELOPMENT=false)"
                )
        return self
